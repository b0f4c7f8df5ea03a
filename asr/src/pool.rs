//! Recogniser worker pool: dedicated OS threads, shared models (one per language, or one
//! for several), one `WhisperState` per worker and model, one bounded queue for all
//! languages, and the expected wait the server uses for admission control.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};
use tokio::sync::oneshot;

use crate::language::LanguageAsr;
use crate::recognizer::{Hints, Recognizer, Transcript, WhisperModel};
use crate::{AsrConfig, AsrError, script};

type Reply = oneshot::Sender<Result<Transcript, AsrError>>;

struct Job {
    /// Index into the pool's languages.
    language: usize,
    audio: Arc<[f32]>,
    hints: Hints,
    enqueued: Instant,
    reply: Reply,
    /// Set once, by whoever gets there first: a worker starting the job, or the ticket
    /// being dropped (cancel). The winner releases the job's slot in `outstanding`.
    claimed: Arc<AtomicBool>,
}

#[derive(Default)]
struct Stats {
    /// Live jobs: waiting in the queue or being decoded (cancelled ones not counted).
    outstanding: AtomicUsize,
    /// Smoothed decode time per job, microseconds.
    ewma_decode_us: AtomicU64,
    /// Jobs skipped because their ticket was dropped before a worker reached them.
    cancelled: AtomicU64,
}

/// The pool. Dropping it closes the queue; workers finish their current job and exit.
pub struct AsrPool {
    tx: Option<Sender<Job>>,
    slots: Arc<[LanguageSlot]>,
    /// Codes in the order of `Job::language`; the first is `submit`'s.
    codes: Vec<String>,
    workers: Vec<JoinHandle<()>>,
    stats: Arc<Stats>,
    n_workers: usize,
    capacity: usize,
}

/// A pending result. Await it (tokio or any executor), poll it with `try_take`, or
/// `blocking_wait` outside async code. Dropping it cancels the job if no worker has
/// started it yet: its queue slot is free at once (a caller who hangs up, or a stale
/// speculative decode, costs nothing), and the worker skips it.
pub struct AsrTicket {
    rx: oneshot::Receiver<Result<Transcript, AsrError>>,
    claimed: Arc<AtomicBool>,
    stats: Arc<Stats>,
}

impl AsrTicket {
    /// Block the current (non-async) thread until the result arrives.
    pub fn blocking_wait(mut self) -> Result<Transcript, AsrError> {
        let (_, never) = oneshot::channel();
        let rx = std::mem::replace(&mut self.rx, never);
        rx.blocking_recv().map_err(|_| AsrError::PoolClosed)?
    }

    /// The result if it is ready; `None` while still queued or decoding.
    pub fn try_take(&mut self) -> Option<Result<Transcript, AsrError>> {
        match self.rx.try_recv() {
            Ok(r) => Some(r),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(Err(AsrError::PoolClosed)),
        }
    }
}

impl Drop for AsrTicket {
    fn drop(&mut self) {
        // Not started yet: cancel it and give its slot back now.
        if claim(&self.claimed) {
            self.stats.outstanding.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// True for the first caller only.
fn claim(flag: &AtomicBool) -> bool {
    flag.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

impl Future for AsrTicket {
    type Output = Result<Transcript, AsrError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.map_err(|_| AsrError::PoolClosed).and_then(|x| x))
    }
}

/// Turns a final transcript into the sentence embedding the dialog's semantic stage
/// compares (`None` when it cannot). Runs on the worker that decoded the utterance.
pub type TextEncoder = Arc<dyn Fn(&str) -> Option<Arc<[f32]>> + Send + Sync>;

/// One language a pool serves: its settings, which of the pool's models decodes it, and
/// what embeds its transcripts (set once after start, by the binary).
struct LanguageSlot {
    settings: LanguageAsr,
    model: usize,
    encoder: OnceLock<TextEncoder>,
}

impl AsrPool {
    /// One language: `model` in the language it was loaded with (`[asr]`'s settings when
    /// that is `cfg.language`, else that code's `[asr.languages]` entry or defaults).
    /// Start `cfg.workers` threads, each decoding with `cfg.threads_per_worker` threads.
    pub fn new(model: Arc<WhisperModel>, cfg: &AsrConfig) -> Result<Self, AsrError> {
        let settings = cfg.language_settings(model.language()).unwrap_or_else(|| {
            let mut s = LanguageAsr::english(&model.path().display().to_string());
            s.code = model.language().to_owned();
            s.language = model.language().to_owned();
            s
        });
        Self::with_languages(vec![(settings, model)], cfg)
    }

    /// Several languages in one pool, each decoded by its own model (the same `Arc` may
    /// serve several). The first is the default of `submit`. One queue and one admission
    /// limit for all of them.
    pub fn with_languages(
        languages: Vec<(LanguageAsr, Arc<WhisperModel>)>,
        cfg: &AsrConfig,
    ) -> Result<Self, AsrError> {
        if languages.is_empty() {
            return Err(AsrError::Whisper(
                "an ASR pool needs at least one language".into(),
            ));
        }
        let mut models: Vec<Arc<WhisperModel>> = Vec::new();
        let mut slots = Vec::with_capacity(languages.len());
        for (settings, model) in languages {
            if settings.language != "en" && !model.is_multilingual() {
                return Err(AsrError::Whisper(format!(
                    "{} is English-only; language `{}` needs a multilingual model",
                    model.path().display(),
                    settings.language
                )));
            }
            script::prepare(settings.output_script);
            let index = match models.iter().position(|m| Arc::ptr_eq(m, &model)) {
                Some(i) => i,
                None => {
                    models.push(model);
                    models.len() - 1
                }
            };
            slots.push(LanguageSlot {
                settings,
                model: index,
                encoder: OnceLock::new(),
            });
        }
        let codes = slots.iter().map(|s| s.settings.code.clone()).collect();
        let slots: Arc<[LanguageSlot]> = slots.into();
        let n_workers = cfg.workers.max(1);
        let capacity = cfg.queue.max(1);
        // The bound is enforced on live jobs (`outstanding`), so a cancelled job sitting in
        // the channel until a worker skips it takes no one's place.
        let (tx, rx) = unbounded::<Job>();
        let stats = Arc::new(Stats::default());
        // Seed the estimate with a typical short-utterance decode so the first admission
        // decisions are not optimistic zeros.
        stats.ewma_decode_us.store(250_000, Ordering::Relaxed);
        let mut workers = Vec::with_capacity(n_workers);
        // Create every state up front so a failure is reported here, not on first use.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        for i in 0..n_workers {
            let recognizers = models
                .iter()
                .map(|m| Recognizer::new(m.clone(), cfg.threads_per_worker))
                .collect::<Result<Vec<_>, _>>()?;
            let rx: Receiver<Job> = rx.clone();
            let stats = stats.clone();
            let worker_slots = slots.clone();
            let ready = ready_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("asr-worker-{i}"))
                .spawn(move || {
                    let _ = ready.send(());
                    worker_loop(recognizers, &worker_slots, rx, stats)
                })
                .map_err(|e| AsrError::Whisper(format!("spawning ASR worker: {e}")))?;
            workers.push(handle);
        }
        for _ in 0..n_workers {
            let _ = ready_rx.recv();
        }
        Ok(Self {
            tx: Some(tx),
            slots,
            codes,
            workers,
            stats,
            n_workers,
            capacity,
        })
    }

    /// The languages `codes` (e.g. `["en", "zh"]`), with the models their settings name,
    /// from `models_dir`; a model file named by several languages is loaded once. The first
    /// code is `submit`'s default.
    pub fn load(models_dir: &Path, cfg: &AsrConfig, codes: &[&str]) -> Result<Self, AsrError> {
        let mut loaded: HashMap<String, Arc<WhisperModel>> = HashMap::new();
        let mut languages = Vec::with_capacity(codes.len());
        for code in codes {
            let settings =
                cfg.language_settings(code)
                    .ok_or_else(|| AsrError::UnknownLanguage {
                        code: (*code).to_owned(),
                        available: cfg.language_codes().join(", "),
                    })?;
            let model = match loaded.get(&settings.model) {
                Some(m) => m.clone(),
                None => {
                    let m =
                        WhisperModel::load(&models_dir.join(&settings.model), &settings.language)?;
                    loaded.insert(settings.model.clone(), m.clone());
                    m
                }
            };
            languages.push((settings, model));
        }
        Self::with_languages(languages, cfg)
    }

    /// Embed every non-empty transcript in `language` with `encoder`, on the worker, after
    /// decoding (`Transcript::embedding`). Once per language; later calls are ignored.
    pub fn set_text_encoder(&self, language: &str, encoder: TextEncoder) -> Result<(), AsrError> {
        let slot = self
            .slots
            .iter()
            .find(|s| s.settings.code == language)
            .ok_or_else(|| AsrError::UnknownLanguage {
                code: language.to_owned(),
                available: self.codes.join(", "),
            })?;
        let _ = slot.encoder.set(encoder);
        Ok(())
    }

    /// The language codes this pool decodes; the first is `submit`'s.
    pub fn languages(&self) -> &[String] {
        &self.codes
    }

    /// Queue one utterance in the pool's first language. See `submit_in`.
    pub fn submit(
        &self,
        audio: impl Into<Arc<[f32]>>,
        hints: Hints,
    ) -> Result<AsrTicket, AsrError> {
        self.enqueue(0, audio.into(), hints)
    }

    /// Queue one utterance (mono f32, 16 kHz) in `language` (a code of `languages()`,
    /// e.g. "zh"): decoded by that language's model with its prompt before `hints`. Never
    /// blocks: when `capacity` live jobs already wait behind busy workers, it is an error.
    pub fn submit_in(
        &self,
        language: &str,
        audio: impl Into<Arc<[f32]>>,
        hints: Hints,
    ) -> Result<AsrTicket, AsrError> {
        let index = self
            .codes
            .iter()
            .position(|c| c == language)
            .ok_or_else(|| AsrError::UnknownLanguage {
                code: language.to_owned(),
                available: self.codes.join(", "),
            })?;
        self.enqueue(index, audio.into(), hints)
    }

    fn enqueue(
        &self,
        language: usize,
        audio: Arc<[f32]>,
        hints: Hints,
    ) -> Result<AsrTicket, AsrError> {
        let tx = self.tx.as_ref().ok_or(AsrError::PoolClosed)?;
        let limit = self.capacity + self.n_workers;
        let before = self.stats.outstanding.fetch_add(1, Ordering::SeqCst);
        if before >= limit {
            self.stats.outstanding.fetch_sub(1, Ordering::SeqCst);
            return Err(AsrError::QueueFull {
                queued: before - self.n_workers,
            });
        }
        let (reply, rx) = oneshot::channel();
        let claimed = Arc::new(AtomicBool::new(false));
        let job = Job {
            language,
            audio,
            hints,
            enqueued: Instant::now(),
            reply,
            claimed: claimed.clone(),
        };
        if tx.send(job).is_err() {
            self.stats.outstanding.fetch_sub(1, Ordering::SeqCst);
            return Err(AsrError::PoolClosed);
        }
        Ok(AsrTicket {
            rx,
            claimed,
            stats: self.stats.clone(),
        })
    }

    /// How long a request submitted now would wait before a worker starts it: jobs
    /// ahead of it (queued + running) x smoothed decode time / workers. The server
    /// compares this with its latency budget to answer 503.
    pub fn expected_wait(&self) -> Duration {
        let ahead = self.stats.outstanding.load(Ordering::SeqCst);
        let per_job = self.stats.ewma_decode_us.load(Ordering::Relaxed);
        let waves = ahead.div_ceil(self.n_workers) as u64;
        // A free worker means no wait.
        if ahead < self.n_workers {
            return Duration::ZERO;
        }
        Duration::from_micros(per_job * waves)
    }

    /// Smoothed decode time of one request.
    pub fn typical_decode(&self) -> Duration {
        Duration::from_micros(self.stats.ewma_decode_us.load(Ordering::Relaxed))
    }

    /// Requests queued or being decoded.
    pub fn outstanding(&self) -> usize {
        self.stats.outstanding.load(Ordering::SeqCst)
    }

    /// Requests dropped by their caller before a worker started them.
    pub fn cancelled(&self) -> u64 {
        self.stats.cancelled.load(Ordering::Relaxed)
    }

    pub fn workers(&self) -> usize {
        self.n_workers
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl Drop for AsrPool {
    fn drop(&mut self) {
        self.tx.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn worker_loop(
    mut recognizers: Vec<Recognizer>,
    languages: &[LanguageSlot],
    rx: Receiver<Job>,
    stats: Arc<Stats>,
) {
    // The shared channel hands each job to whichever worker is free.
    while let Ok(job) = rx.recv() {
        if !claim(&job.claimed) {
            // The ticket was dropped first and already gave the slot back.
            stats.cancelled.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let queue_ms = job.enqueued.elapsed().as_millis() as u32;
        let started = Instant::now();
        // A panic inside whisper-rs must not take the worker (and every later call) down.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let slot = &languages[job.language];
            let mut t =
                recognizers[slot.model].transcribe_as(&slot.settings, &job.audio, &job.hints)?;
            if let Some(encode) = slot.encoder.get()
                && !t.text.trim().is_empty()
            {
                t.embedding = encode(&t.text);
            }
            Ok(t)
        }))
        .unwrap_or_else(|_| Err(AsrError::Whisper("decoder panicked".into())));
        let took = started.elapsed().as_micros() as u64;
        let old = stats.ewma_decode_us.load(Ordering::Relaxed);
        stats
            .ewma_decode_us
            .store((old * 7 + took) / 8, Ordering::Relaxed);
        stats.outstanding.fetch_sub(1, Ordering::SeqCst);
        let _ = job.reply.send(result.map(|mut t| {
            t.queue_ms = queue_ms;
            t
        }));
    }
}
