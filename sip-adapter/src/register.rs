//! REGISTER to a trunk: rsipstack's `Registration::keep_alive` does digest auth, refresh at
//! 75 % of the granted expiry and exponential backoff (1 s .. 60 s); we publish its state.

use std::net::SocketAddr;

use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::registration::{RefreshOutcome, Registration};
use rsipstack::platform::CancellationToken;
use rsipstack::transaction::endpoint::EndpointInnerRef;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::RegisterConfig;

/// Trunk registration state, for metrics and `ivr doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationStatus {
    /// No `[sip.register]` configured.
    Disabled,
    /// First REGISTER in flight.
    Registering,
    /// Last REGISTER got 2xx.
    Registered { consecutive_failures: u32 },
    /// Last REGISTER failed: status code of the final response, or 0 for a transport
    /// error/timeout (`detail` says which). Retries follow with backoff.
    Failed {
        status: u16,
        detail: String,
        consecutive_failures: u32,
    },
    /// Bad registrar URI in config; no attempts are made.
    Misconfigured(String),
}

impl RegistrationStatus {
    pub fn is_registered(&self) -> bool {
        matches!(self, RegistrationStatus::Registered { .. })
    }
}

pub(crate) async fn run(
    endpoint: EndpointInnerRef,
    cfg: RegisterConfig,
    _local: SocketAddr,
    status: watch::Sender<RegistrationStatus>,
    cancel: CancellationToken,
) {
    let server = match rsipstack::sip::Uri::try_from(cfg.registrar.as_str()) {
        Ok(u) => u,
        Err(e) => {
            let msg = format!("registrar {:?}: {e}", cfg.registrar);
            warn!("{msg}");
            status.send_replace(RegistrationStatus::Misconfigured(msg));
            return;
        }
    };
    status.send_replace(RegistrationStatus::Registering);
    let credential = Credential {
        username: cfg.user.clone(),
        password: cfg.password.clone(),
        realm: None,
        auth_username: cfg.auth_user.clone(),
    };
    let mut registration = Registration::new(endpoint, Some(credential));
    let mut failures = 0u32;
    registration
        .keep_alive(server, cfg.expires_s, cancel, |outcome| {
            let next = match outcome {
                RefreshOutcome::Registered(_) => {
                    if failures > 0 || !status.borrow().is_registered() {
                        info!(registrar = %cfg.registrar, "registered");
                    }
                    failures = 0;
                    RegistrationStatus::Registered {
                        consecutive_failures: 0,
                    }
                }
                RefreshOutcome::Rejected(resp) => {
                    failures += 1;
                    let code = u16::from(resp.status_code.clone());
                    warn!(registrar = %cfg.registrar, code, "REGISTER rejected");
                    RegistrationStatus::Failed {
                        status: code,
                        detail: resp.status_code.to_string(),
                        consecutive_failures: failures,
                    }
                }
                RefreshOutcome::Failed(e) => {
                    failures += 1;
                    warn!(registrar = %cfg.registrar, error = %e, "REGISTER failed");
                    RegistrationStatus::Failed {
                        status: 0,
                        detail: e.to_string(),
                        consecutive_failures: failures,
                    }
                }
            };
            status.send_replace(next);
        })
        .await;
}
