//! ivr-sip: the SIP side. UAS/UAC on rsipstack (the only crate that imports it), SDP
//! offer/answer, REGISTER, REFER, ACL and admission. The rest of ivr sees plain events
//! and commands; this crate knows nothing of media processing or dialogs.
//!
//! Threading: everything runs on the caller's tokio runtime. `SipServer::start` spawns
//! the rsipstack endpoint, one task per incoming request and one task per call.

pub mod admission;
mod bridge;
mod call;
mod conformance;
mod register;
pub mod sdp;
mod server;
mod session_timer;

pub use admission::{Cidr, InfoDtmf, Refusal};
pub use bridge::{RelayedPackets, RtpRelay};
pub use call::{
    ActiveCall, AnsweredCall, CallEvent, CallEvents, EndReason, IncomingCall, OutgoingCall,
    PlacedCall, RemoteOffer, SipHeader, TransferOutcome,
};
pub use register::RegistrationStatus;
pub use sdp::{Codec, Direction, NegotiatedMedia, SdpError};
pub use server::{DialError, SipServer};

use serde::{Deserialize, Serialize};

/// SIP settings (`[sip]` in ivr.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Address for UDP and TCP signalling (port 0 = any free port).
    pub listen: String,
    /// Concurrent call cap; beyond it INVITEs get 503 + Retry-After.
    pub max_calls: usize,
    /// New calls per second (token bucket); 0 = unlimited.
    pub max_call_rate: f64,
    /// Bucket size for `max_call_rate` (calls that may arrive at once).
    pub call_rate_burst: u32,
    /// Seconds put in `Retry-After` of 503 responses.
    pub retry_after_s: u32,
    /// Source allow-list (CIDR); empty = accept everyone.
    pub allow: Vec<String>,
    /// User part of our Contact and the `User-Agent` header.
    pub user_agent: String,
    /// RFC 4028 session interval we accept (s); the caller refreshes. 0 = no session timer.
    pub session_expires_s: u32,
    /// Capacity of the incoming-call queue to the call loop; when full, 503.
    pub incoming_queue: usize,
    /// Optional registration to a trunk.
    pub register: Option<RegisterConfig>,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:5060".into(),
            max_calls: 32,
            max_call_rate: 20.0,
            call_rate_burst: 20,
            retry_after_s: 5,
            allow: Vec::new(),
            user_agent: "ivr".into(),
            session_expires_s: 1800,
            incoming_queue: 64,
            register: None,
        }
    }
}

/// REGISTER to a trunk (`[sip.register]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegisterConfig {
    /// Registrar URI, e.g. `sip:trunk.example.net:5060`.
    pub registrar: String,
    /// Address-of-record user (and digest user unless `auth_user` is set).
    pub user: String,
    pub password: String,
    /// Digest user name when it differs from `user`.
    pub auth_user: Option<String>,
    /// Requested expiry (s).
    pub expires_s: u32,
}

impl Default for RegisterConfig {
    fn default() -> Self {
        Self {
            registrar: String::new(),
            user: String::new(),
            password: String::new(),
            auth_user: None,
            expires_s: 300,
        }
    }
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    #[error("bad [sip] config: {0}")]
    Config(String),
    #[error("cannot bind SIP listener on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("SIP stack: {0}")]
    Stack(String),
    #[error("SDP: {0}")]
    Sdp(#[from] SdpError),
    #[error("call is not in a state for {0}")]
    State(&'static str),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("call ended: {0}")]
    Ended(String),
}

impl From<rsipstack::Error> for SipError {
    fn from(e: rsipstack::Error) -> Self {
        SipError::Stack(e.to_string())
    }
}

pub type Result<T, E = SipError> = std::result::Result<T, E>;
