//! The synthesis pool: dedicated OS threads (one ONNX session each) fed by a bounded queue.
//! A request's audio comes back clause by clause on a tokio unbounded channel, so an async
//! caller awaits it without blocking a runtime worker, and a sync caller uses `blocking_next`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use ivr_onnx::Environment;
use tokio::sync::mpsc;

use crate::cache::{CACHE_RATE, PromptCache, cache_key};
use crate::chunk::Chunk;
use crate::phonemize::Phonemizer;
use crate::resample::Resamplers;
use crate::voice::{VoiceSpec, sanitize_speed, to_i16};
use crate::voice_model::{LoadedVoice, VoiceSetup};
use crate::{TtsConfig, TtsError};

/// Cancels one synthesis request (barge-in). Cheap to clone; may be sent to other tasks.
#[derive(Debug, Clone, Default)]
pub struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A piece of synthesized speech: one clause (or a pause), mono i16 at the requested rate.
#[derive(Debug, Clone)]
pub struct AudioChunk {
    pub pcm: Vec<i16>,
    pub sample_rate: u32,
    /// 0-based position in the request.
    pub index: usize,
    /// The words this chunk speaks (empty for a pause).
    pub text: String,
}

/// Timing of one request, measured on the synthesis thread.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SynthStats {
    /// Chunks produced (clauses and pauses).
    pub chunks: usize,
    /// From submission to the first audio chunk being sent.
    pub time_to_first_audio: Option<Duration>,
    /// Time spent synthesizing (phonemes + inference + resampling).
    pub synth_time: Duration,
    /// Length of the audio produced.
    pub audio_seconds: f64,
    /// Stopped early by `CancelHandle::cancel` (or the receiver was dropped).
    pub cancelled: bool,
}

impl SynthStats {
    /// Real-time factor: synthesis time / audio time.
    pub fn rtf(&self) -> f64 {
        if self.audio_seconds > 0.0 {
            self.synth_time.as_secs_f64() / self.audio_seconds
        } else {
            0.0
        }
    }
}

/// What a synthesis request yields, in order: `Audio`*, then exactly one `Done` or `Failed`.
#[derive(Debug)]
pub enum TtsEvent {
    Audio(AudioChunk),
    Done(SynthStats),
    Failed(String),
}

/// A live synthesis request: its events and its cancel handle.
pub struct SynthStream {
    pub events: mpsc::UnboundedReceiver<TtsEvent>,
    pub cancel: CancelHandle,
}

impl SynthStream {
    /// Next event (async; never blocks a runtime thread). `None` after `Done`/`Failed`.
    pub async fn next(&mut self) -> Option<TtsEvent> {
        self.events.recv().await
    }

    /// Next event, blocking the calling thread. Do not call from async code.
    pub fn blocking_next(&mut self) -> Option<TtsEvent> {
        self.events.blocking_recv()
    }

    /// Wait for the whole request (blocking). Returns all samples and the stats.
    pub fn collect_blocking(mut self) -> Result<(Vec<i16>, SynthStats), TtsError> {
        let mut pcm = Vec::new();
        while let Some(ev) = self.blocking_next() {
            match ev {
                TtsEvent::Audio(c) => pcm.extend_from_slice(&c.pcm),
                TtsEvent::Done(s) => return Ok((pcm, s)),
                TtsEvent::Failed(e) => return Err(TtsError::Synthesis(e)),
            }
        }
        Err(TtsError::Stopped)
    }
}

/// Per-request options.
#[derive(Debug, Clone, Copy)]
pub struct SynthOptions {
    /// Speaking rate (1 = the voice's own, 0.8 = slower); `None` = the engine default.
    pub speed: Option<f32>,
    /// Output sample rate (8000 for the phone, 16000, or the voice's 22050).
    pub sample_rate: u32,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            speed: None,
            sample_rate: CACHE_RATE,
        }
    }
}

/// Engine-wide counters.
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    clauses: AtomicU64,
    cache_hits: AtomicU64,
}

/// Snapshot of the engine's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    pub requests: u64,
    /// Clauses run through the voice model (zero growth = no synthesis happened).
    pub clauses_synthesized: u64,
    pub cache_hits: u64,
}

/// Result of `prewarm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrewarmReport {
    pub already_cached: usize,
    pub synthesized: usize,
}

struct Job {
    text: String,
    speed: f32,
    rate: u32,
    cancel: CancelHandle,
    out: mpsc::UnboundedSender<TtsEvent>,
    submitted: Instant,
}

/// The TTS engine: a voice, a pool of synthesis threads, and the prompt cache.
pub struct TtsEngine {
    jobs: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    setup: VoiceSetup,
    cache: PromptCache,
    default_speed: f32,
    counters: Arc<Counters>,
    /// Fixed openings of templated prompts ("您的单号是，" of "您的单号是，{number}，对吗？"),
    /// longest first, whose audio is in the prompt cache (`prewarm_lead_ins`).
    lead_ins: Mutex<Vec<String>>,
}

impl TtsEngine {
    /// Load the voice (`models_dir/cfg.voice`), start `cfg.workers` synthesis threads with
    /// espeak-ng phonemes, and open the prompt cache at `cfg.cache_dir` (empty = memory only).
    /// Blocks until every worker has loaded its session (~0.5 s each).
    pub fn start(cfg: &TtsConfig, models_dir: &Path, env: &Environment) -> Result<Self, TtsError> {
        Self::start_language(cfg, "en", models_dir, env)
    }

    /// The engine for one language's voice (`TtsConfig::voice_for`: English is `cfg.voice`,
    /// Mandarin `[tts.voices] zh`, a Kokoro speaker by default). One engine per language;
    /// all share the process's ONNX environment `env`.
    pub fn start_language(
        cfg: &TtsConfig,
        language: &str,
        models_dir: &Path,
        env: &Environment,
    ) -> Result<Self, TtsError> {
        let setup = VoiceSetup::for_language(cfg, language, models_dir)?;
        Self::with_setup(cfg, setup, env)
    }

    /// Like `start`, with any phonemizer (e.g. one in a separate process).
    pub fn with_phonemizer(
        cfg: &TtsConfig,
        spec: Arc<VoiceSpec>,
        phonemizer: Arc<dyn Phonemizer>,
        env: &Environment,
    ) -> Result<Self, TtsError> {
        Self::with_setup(cfg, VoiceSetup::Piper { spec, phonemizer }, env)
    }

    /// Start `cfg.workers` synthesis threads, each loading its own session of `setup`.
    pub fn with_setup(
        cfg: &TtsConfig,
        setup: VoiceSetup,
        env: &Environment,
    ) -> Result<Self, TtsError> {
        let cache_dir = (!cfg.cache_dir.is_empty()).then(|| Path::new(&cfg.cache_dir));
        let cache = PromptCache::new(cache_dir)?;
        let (tx, rx) = crossbeam_channel::bounded::<Job>(cfg.queue.max(1));
        let counters = Arc::new(Counters::default());
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(cfg.workers.max(1));
        let mut workers = Vec::new();
        for i in 0..cfg.workers.max(1) {
            let voice = setup.load_session(env, cfg.intra_threads);
            let worker = Worker {
                rx: rx.clone(),
                resamplers: Resamplers::new(setup.sample_rate()),
                counters: counters.clone(),
                sentence_pause_ms: cfg.sentence_pause_ms,
            };
            let ready = ready_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("tts-{i}"))
                .spawn(move || match voice {
                    Ok(v) => {
                        let _ = ready.send(Ok(()));
                        worker.run(v);
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                })
                .map_err(|e| TtsError::Synthesis(format!("cannot spawn tts thread: {e}")))?;
            workers.push(handle);
        }
        drop(ready_tx);
        let mut engine = Self {
            jobs: Some(tx),
            workers,
            setup,
            cache,
            default_speed: sanitize_speed(cfg.speed),
            counters,
            lead_ins: Mutex::new(Vec::new()),
        };
        for _ in 0..engine.workers.len() {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    engine.shutdown();
                    return Err(e);
                }
                Err(_) => {
                    engine.shutdown();
                    return Err(TtsError::Stopped);
                }
            }
        }
        Ok(engine)
    }

    /// The voice this engine speaks with.
    pub fn voice(&self) -> &VoiceSetup {
        &self.setup
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            clauses_synthesized: self.counters.clauses.load(Ordering::Relaxed),
            cache_hits: self.counters.cache_hits.load(Ordering::Relaxed),
        }
    }

    /// Live synthesis, streamed clause by clause. Never blocks: a full queue is
    /// `TtsError::Busy` (the caller may fall back to a cached "one moment" prompt).
    ///
    /// A text that opens with a prewarmed lead-in gets the lead-in's cached audio as its
    /// first chunk at once, and only the rest is synthesized (while the lead-in plays).
    pub fn synthesize(&self, text: &str, opts: SynthOptions) -> Result<SynthStream, TtsError> {
        let (out, events) = mpsc::unbounded_channel();
        let cancel = CancelHandle::default();
        let mut rest = text;
        if let Some((lead_in, pcm)) = self.cached_lead_in(text, opts) {
            self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
            let chunk = AudioChunk {
                pcm: pcm.to_vec(),
                sample_rate: opts.sample_rate,
                index: 0,
                text: lead_in.clone(),
            };
            // The receiver is still in hand: this send cannot fail.
            let _ = out.send(TtsEvent::Audio(chunk));
            rest = &text[lead_in.len()..];
        }
        self.submit_to(rest, opts, false, out, cancel.clone())?;
        Ok(SynthStream { events, cancel })
    }

    /// The longest registered lead-in `text` opens with (with more text after it), and its
    /// cached audio, when the request is at the cache's rate and speed.
    fn cached_lead_in(&self, text: &str, opts: SynthOptions) -> Option<(String, Arc<[i16]>)> {
        if opts.sample_rate != CACHE_RATE {
            return None;
        }
        let lead_ins = self.lead_ins.lock().ok()?;
        let lead_in = lead_ins
            .iter()
            .find(|l| text.len() > l.len() && text.starts_with(l.as_str()))?;
        let key = self.prompt_key(lead_in, opts.speed);
        self.cache.get(&key).map(|pcm| (lead_in.clone(), pcm))
    }

    /// Synthesize the lead-ins of templated prompts into the prompt cache (blocking, like
    /// `prewarm`) and serve them from there as the first chunk of any text they open.
    pub fn prewarm_lead_ins<S: AsRef<str>>(
        &self,
        lead_ins: &[S],
        speed: Option<f32>,
    ) -> Result<PrewarmReport, TtsError> {
        let report = self.prewarm(lead_ins, speed)?;
        let mut registered = self
            .lead_ins
            .lock()
            .map_err(|_| TtsError::Synthesis("lead-in table poisoned".into()))?;
        for l in lead_ins {
            let l = l.as_ref();
            if !l.is_empty() && !registered.iter().any(|r| r == l) {
                registered.push(l.to_string());
            }
        }
        registered.sort_by_key(|l| std::cmp::Reverse(l.len()));
        Ok(report)
    }

    fn submit(&self, text: &str, opts: SynthOptions, wait: bool) -> Result<SynthStream, TtsError> {
        let (out, events) = mpsc::unbounded_channel();
        let cancel = CancelHandle::default();
        self.submit_to(text, opts, wait, out, cancel.clone())?;
        Ok(SynthStream { events, cancel })
    }

    /// Queue `text` for synthesis into `out`.
    fn submit_to(
        &self,
        text: &str,
        opts: SynthOptions,
        wait: bool,
        out: mpsc::UnboundedSender<TtsEvent>,
        cancel: CancelHandle,
    ) -> Result<(), TtsError> {
        let jobs = self.jobs.as_ref().ok_or(TtsError::Stopped)?;
        let job = Job {
            text: text.to_string(),
            speed: opts.speed.map_or(self.default_speed, sanitize_speed),
            rate: opts.sample_rate,
            cancel,
            out,
            submitted: Instant::now(),
        };
        if wait {
            jobs.send(job).map_err(|_| TtsError::Stopped)?;
        } else {
            jobs.try_send(job).map_err(|e| match e {
                TrySendError::Full(_) => TtsError::Busy,
                TrySendError::Disconnected(_) => TtsError::Stopped,
            })?;
        }
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn prompt_key(&self, text: &str, speed: Option<f32>) -> String {
        let speed = speed.map_or(self.default_speed, sanitize_speed);
        cache_key(self.setup.id(), text, speed, CACHE_RATE)
    }

    /// A cached prompt (8 kHz), if present: no synthesis. Reads disk on a memory miss
    /// (small file); call it from `spawn_blocking` if that matters.
    pub fn cached_prompt(&self, text: &str, speed: Option<f32>) -> Option<Arc<[i16]>> {
        let hit = self.cache.get(&self.prompt_key(text, speed));
        if hit.is_some() {
            self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// A prompt at 8 kHz: from the cache, or synthesized now and cached. Blocking.
    pub fn prompt(&self, text: &str, speed: Option<f32>) -> Result<Arc<[i16]>, TtsError> {
        if let Some(p) = self.cached_prompt(text, speed) {
            return Ok(p);
        }
        let stream = self.submit(
            text,
            SynthOptions {
                speed,
                sample_rate: CACHE_RATE,
            },
            true,
        )?;
        let (pcm, _) = stream.collect_blocking()?;
        let pcm: Arc<[i16]> = pcm.into();
        self.cache.put(&self.prompt_key(text, speed), pcm.clone())?;
        Ok(pcm)
    }

    /// Synthesize and cache every prompt not cached yet, using all workers. Blocking
    /// (at flow load: run it on a blocking thread).
    pub fn prewarm<S: AsRef<str>>(
        &self,
        prompts: &[S],
        speed: Option<f32>,
    ) -> Result<PrewarmReport, TtsError> {
        let mut report = PrewarmReport {
            already_cached: 0,
            synthesized: 0,
        };
        let mut pending = Vec::new();
        for p in prompts {
            let text = p.as_ref();
            let key = self.prompt_key(text, speed);
            if self.cache.get(&key).is_some() {
                report.already_cached += 1;
                continue;
            }
            let opts = SynthOptions {
                speed,
                sample_rate: CACHE_RATE,
            };
            pending.push((key, self.submit(text, opts, true)?));
        }
        for (key, stream) in pending {
            let (pcm, _) = stream.collect_blocking()?;
            self.cache.put(&key, pcm.into())?;
            report.synthesized += 1;
        }
        Ok(report)
    }

    fn shutdown(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for TtsEngine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Worker {
    rx: Receiver<Job>,
    resamplers: Resamplers,
    counters: Arc<Counters>,
    sentence_pause_ms: u32,
}

impl Worker {
    fn run(mut self, mut voice: LoadedVoice) {
        while let Ok(job) = self.rx.recv() {
            let out = job.out.clone();
            // A panic in one request (a bug, or in native code) must not take the worker
            // down with it: report it on that request and keep serving.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.job(&mut voice, job)
            }));
            match result {
                Ok(Ok(stats)) => {
                    let _ = out.send(TtsEvent::Done(stats));
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "synthesis failed");
                    let _ = out.send(TtsEvent::Failed(e.to_string()));
                }
                Err(_) => {
                    tracing::error!("synthesis panicked");
                    let _ = out.send(TtsEvent::Failed("synthesis panicked".into()));
                }
            }
        }
    }

    fn job(&mut self, voice: &mut LoadedVoice, job: Job) -> Result<SynthStats, TtsError> {
        let mut stats = SynthStats::default();
        let parts = voice.chunks(&job.text);
        let n = parts.len();
        for (index, part) in parts.into_iter().enumerate() {
            // Barge-in is checked between clauses: synthesis stops within one clause.
            if job.cancel.is_cancelled() || job.out.is_closed() {
                stats.cancelled = true;
                return Ok(stats);
            }
            let t0 = Instant::now();
            let (pcm, text) = match part {
                Chunk::Pause(ms) => (
                    vec![0i16; (job.rate as u64 * ms as u64 / 1000) as usize],
                    String::new(),
                ),
                Chunk::Speak { text, sentence_end } => {
                    let audio = voice.synthesize(&text, job.speed)?;
                    self.counters.clauses.fetch_add(1, Ordering::Relaxed);
                    let audio = self.resamplers.resample(&audio, job.rate)?;
                    let mut pcm = if audio.is_empty() {
                        Vec::new()
                    } else {
                        to_i16(&audio)
                    };
                    if stats.chunks == 0 {
                        trim_leading_silence(&mut pcm, job.rate);
                    }
                    if sentence_end && index + 1 < n {
                        let pause = job.rate as u64 * self.sentence_pause_ms as u64 / 1000;
                        pcm.extend(std::iter::repeat_n(0i16, pause as usize));
                    }
                    (pcm, text)
                }
            };
            stats.synth_time += t0.elapsed();
            if pcm.is_empty() {
                continue;
            }
            stats.chunks += 1;
            stats.audio_seconds += pcm.len() as f64 / job.rate as f64;
            if stats.time_to_first_audio.is_none() {
                stats.time_to_first_audio = Some(job.submitted.elapsed());
            }
            let chunk = AudioChunk {
                pcm,
                sample_rate: job.rate,
                index,
                text,
            };
            if job.out.send(TtsEvent::Audio(chunk)).is_err() {
                stats.cancelled = true;
                return Ok(stats);
            }
        }
        Ok(stats)
    }
}

/// Piper starts every utterance with 40-60 ms of near silence: on the phone that is
/// reply latency. Cut it from the first clause, keeping 10 ms before the first sample
/// above about -40 dBFS so the onset is not clipped.
fn trim_leading_silence(pcm: &mut Vec<i16>, rate: u32) {
    const THRESHOLD: i16 = 328;
    let keep = (rate / 100) as usize;
    if let Some(first) = pcm.iter().position(|s| s.unsigned_abs() > THRESHOLD as u16) {
        let cut = first.saturating_sub(keep);
        pcm.drain(..cut);
    }
}

#[cfg(test)]
mod trim_tests {
    use super::trim_leading_silence;

    #[test]
    fn leading_silence_is_cut_to_ten_ms() {
        let mut pcm = vec![0i16; 400];
        pcm.extend([50, -60, 40]);
        pcm.extend([5000, -4000, 3000]);
        trim_leading_silence(&mut pcm, 8000);
        // 10 ms at 8 kHz = 80 samples kept before the first loud one.
        assert_eq!(pcm.len(), 80 + 3);
        assert_eq!(pcm[80], 5000);
        // All quiet: nothing to anchor on, left alone.
        let mut quiet = vec![10i16; 100];
        trim_leading_silence(&mut quiet, 8000);
        assert_eq!(quiet.len(), 100);
        // Loud from the start: unchanged.
        let mut loud = vec![1000i16; 10];
        trim_leading_silence(&mut loud, 8000);
        assert_eq!(loud.len(), 10);
    }
}
