//! In-band DTMF detection (placeholder until built).
#[derive(Debug, Default)]
pub struct InbandDtmfDetector;
