//! ivr-test-support: the one harness the workspace's tests and benches share (a
//! dev-dependency only). Workspace paths and the models dir, free loopback ports,
//! `ivr serve` as a subprocess, and the real peers it is tested with: SIPp and baresip.
//! Everything is blocking `std::process`; async tests wrap a returned `Command` with
//! `tokio::process::Command::from`.

mod baresip;
mod paths;
mod ports;
mod serve;
mod sipp;

pub use baresip::Baresip;
pub use paths::{SERVE_MODELS, check_models, fixture, model, models_dir, workspace_root};
pub use ports::{free_media_port, free_udp_port};
pub use serve::{IvrServe, ServeOptions, ivr_command};
pub use sipp::{sipp_client, sipp_uas};
