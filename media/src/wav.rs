pub struct CallRecorder;
pub struct WavAudio;
pub fn read_wav() {}
