//! ivr-sip: the SIP side. UAS/UAC on rsipstack (the only crate that imports it), SDP
//! offer/answer, REGISTER, REFER, ACL and admission. The rest of ivr sees plain events
//! and commands; this crate knows nothing of media processing or dialogs.

use serde::{Deserialize, Serialize};

/// SIP settings (`[sip]` in ivr.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Address for UDP and TCP signalling (port 0 = any free port).
    pub listen: String,
    /// Concurrent call cap; beyond it INVITEs get 503 + Retry-After.
    pub max_calls: usize,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:5060".into(),
            max_calls: 32,
        }
    }
}
