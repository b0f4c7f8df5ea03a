//! Replay: a recorded caller (WAV, stereo call recording, or pcap) driven through the
//! live call pipeline (`CallCore`) in virtual time. The virtual-time twin of
//! `call::live`: same core, same engines, but the clock is `t0 + offset` and never
//! sleeps, every recognition and synthesis is run to completion and delivered at the
//! virtual instant it was asked for. Results therefore don't depend on machine speed;
//! the compute time is measured and reported on the side.

mod expect;
mod fixture;
mod output;
mod report;
mod shell;

pub use expect::{Expectations, TransferAnswer, check, expectations_beside};
pub use fixture::{CallerMedia, load_fixture};
pub use report::{InputKind, ReplayResult, TurnReport, percentile};
pub use shell::{ReplayOptions, replay};
