//! What one phase measured, its statistics and the verdicts over phases.

use std::collections::BTreeMap;

use crate::{ADDED_P50_LIMIT_MS, ADDED_P95_LIMIT_MS, P95_LIMIT_MS};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TurnSample {
    pub call: String,
    pub turn: usize,
    /// Caller's last voiced packet -> ivr's first non-silent reply packet.
    pub wire_ms: Option<f64>,
    /// "cached", "live" or "unknown" (from the call record).
    pub kind: String,
    /// The server's own measure (end of speech -> first audio frame), for comparison.
    pub record_first_audio_ms: Option<f64>,
    pub record_asr_ms: Option<f64>,
    /// The bot was still speaking when the caller finished: not a clean turn.
    pub overlap: bool,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub n: usize,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
}

pub fn stats(values: impl IntoIterator<Item = f64>) -> Stats {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    // Nearest-rank percentiles.
    let pct = |p: f64| -> Option<f64> {
        if v.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
        Some(v[rank.min(v.len()) - 1])
    };
    Stats {
        n: v.len(),
        p50: pct(50.0),
        p95: pct(95.0),
        p99: pct(99.0),
        max: v.last().copied(),
        mean: (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64),
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Phase {
    pub name: String,
    pub calls: usize,
    pub concurrency: usize,
    pub load_at_start: [f64; 3],
    pub wall_s: f64,
    pub sipp_ok: u64,
    pub sipp_failed: u64,
    pub sipp_exit: i32,
    pub records: usize,
    pub outcomes: BTreeMap<String, usize>,
    /// Caller utterances seen on the wire, and how many got a clean measurable reply.
    pub utterances: usize,
    pub turns_measured: usize,
    pub turns_overlap: usize,
    pub turns_unanswered: usize,
    pub all: Stats,
    pub cached: Stats,
    pub live: Stats,
    pub record_first_audio: Stats,
    pub record_asr: Stats,
    /// Outbound RTP gaps > 40 ms (capture time) within a call's stream.
    pub underruns: usize,
    pub max_outbound_gap_ms: f64,
    /// RTP sequence numbers skipped by ivr's sender (lost deadlines).
    pub outbound_seq_gaps: u64,
    /// Pacer deadlines skipped (from the call records).
    pub pacer_skipped_deadlines: u64,
    /// Mean CPU of the ivr process over the phase, in cores (1.0 = one core busy).
    pub cpu_cores: f64,
    pub cpu_percent_per_call: f64,
    pub rss_idle_kib: u64,
    pub rss_peak_kib: u64,
    pub rss_per_call_kib: f64,
    /// Wire latency above the same script turn's floor (its fastest time in the
    /// latency phase): the delay that load adds (queueing for ASR/TTS, scheduling).
    pub added: Stats,
    pub samples: Vec<TurnSample>,
}

impl Phase {
    pub fn passed(&self) -> bool {
        self.sipp_failed == 0
            && self.underruns == 0
            && self.turns_measured > 0
            && self.all.p95.is_some_and(|p| p <= P95_LIMIT_MS)
    }

    /// The server keeps up: every call completes, no underrun, and load adds little to a
    /// turn's unloaded latency (see `ADDED_P50_LIMIT_MS`).
    pub fn sustained(&self) -> bool {
        self.sipp_failed == 0
            && self.underruns == 0
            && self.turns_measured > 0
            && self.added.p50.is_some_and(|p| p <= ADDED_P50_LIMIT_MS)
            && self.added.p95.is_some_and(|p| p <= ADDED_P95_LIMIT_MS)
    }

    pub fn one_line(&self) -> String {
        format!(
            "e2e_latency: {:<9} calls {:>2} conc {:>2}: ok {} failed {} | turns {} (overlap {}, no reply {}) | p50 {} p95 {} p99 {} ms | cached p95 {} live p95 {} | underruns {} (max gap {:.0} ms) | cpu {:.2} cores, {:.1}%/call | rss peak {} MiB, {:.1} MiB/call | load {:.2} -> {}",
            self.name,
            self.calls,
            self.concurrency,
            self.sipp_ok,
            self.sipp_failed,
            self.turns_measured,
            self.turns_overlap,
            self.turns_unanswered,
            fmt_ms(self.all.p50),
            fmt_ms(self.all.p95),
            fmt_ms(self.all.p99),
            fmt_ms(self.cached.p95),
            fmt_ms(self.live.p95),
            self.underruns,
            self.max_outbound_gap_ms,
            self.cpu_cores,
            self.cpu_percent_per_call,
            self.rss_peak_kib / 1024,
            self.rss_per_call_kib / 1024.0,
            self.load_at_start[0],
            if self.passed() { "PASS" } else { "FAIL" },
        )
    }
}

pub fn fmt_ms(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.0}")).unwrap_or_else(|| "-".into())
}

/// Verdicts over measured phases: each phase's added latency over the floors from the
/// latency run, the highest sustained level and the highest level meeting p95 <= 1 s
/// (both counted from the bottom of the ramp up to the first level that fails).
pub fn judge(phases: &mut [Phase]) -> (BTreeMap<usize, f64>, usize, usize) {
    let floors = phases
        .iter()
        .find(|p| p.name == "latency")
        .map(turn_floors)
        .unwrap_or_default();
    for p in phases.iter_mut() {
        p.added = stats(
            p.samples
                .iter()
                .filter(|s| !s.overlap)
                .filter_map(|s| Some(s.wire_ms? - floors.get(&s.turn)?)),
        );
    }
    let (mut sustained, mut goal) = (0, 0);
    let (mut sustained_run, mut goal_run) = (true, true);
    for p in phases.iter().filter(|p| p.name.starts_with("ramp")) {
        sustained_run &= p.sustained();
        goal_run &= p.passed();
        if sustained_run {
            sustained = p.concurrency;
        }
        if goal_run {
            goal = p.concurrency;
        }
    }
    (floors, sustained, goal)
}

/// The fastest wire latency of each script turn (1-based) in a phase: what the turn
/// costs without contention (endpointing + compute + packetization).
pub fn turn_floors(phase: &Phase) -> BTreeMap<usize, f64> {
    let mut floors: BTreeMap<usize, f64> = BTreeMap::new();
    for s in phase.samples.iter().filter(|s| !s.overlap) {
        if let Some(ms) = s.wire_ms {
            let f = floors.entry(s.turn).or_insert(ms);
            *f = f.min(ms);
        }
    }
    floors
}
