//! Local playback through the machine's sound device (`ivr say --play`), with rodio behind
//! the `playback` cargo feature (it needs ALSA headers to build; CI has no sound device).

use crate::TtsError;

/// Whether this build can play audio.
pub const AVAILABLE: bool = cfg!(feature = "playback");

/// How to get a build with playback.
pub const ENABLE_HINT: &str = "playback is not compiled in: install ALSA headers \
(apt-get install libasound2-dev) and rebuild with `cargo build --release --features ivr-tts/playback`";

/// Play mono i16 PCM and wait until it has finished.
#[cfg(not(feature = "playback"))]
pub fn play(_pcm: &[i16], _sample_rate: u32) -> Result<(), TtsError> {
    Err(TtsError::Playback(ENABLE_HINT.to_string()))
}

/// Play mono i16 PCM and wait until it has finished.
#[cfg(feature = "playback")]
pub fn play(pcm: &[i16], sample_rate: u32) -> Result<(), TtsError> {
    use rodio::buffer::SamplesBuffer;
    let err = |e: &dyn std::fmt::Display| TtsError::Playback(format!("sound device: {e}"));
    let sink = rodio::DeviceSinkBuilder::open_default_sink().map_err(|e| err(&e))?;
    let player = rodio::Player::connect_new(sink.mixer());
    let samples: Vec<f32> = pcm.iter().map(|&s| s as f32 / 32768.0).collect();
    let channels = rodio::ChannelCount::new(1).ok_or_else(|| err(&"channels"))?;
    let rate = rodio::SampleRate::new(sample_rate).ok_or_else(|| err(&"sample rate 0"))?;
    player.append(SamplesBuffer::new(channels, rate, samples));
    player.sleep_until_end();
    Ok(())
}
