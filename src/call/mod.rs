//! One call: `core` is the sans-IO pipeline shared by `serve` and `replay`; `live` is the
//! thread that drives it from a real RTP socket and the SIP call handle.

pub mod core;
pub mod live;
mod transcript;

pub use transcript::{TranscriptLine, TurnLatency};

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use ivr_dialog::Backend;
use ivr_dialog::{Flow, Language};

use crate::config::Config;
use crate::records::RecordStore;

/// Everything calls share: loaded models, the flow, the integration backend, records.
pub struct Engines {
    pub cfg: Config,
    pub flows: Flows,
    /// One pool for every language the flows speak.
    pub asr: ivr_asr::AsrPool,
    pub ort: ivr_onnx::Environment,
    /// One voice per language the flows speak.
    pub voices: Voices,
    pub backend: Arc<dyn Backend>,
    pub records: RecordStore,
    /// Quality inspection, applied to each record as it is written.
    pub qa: crate::qa::QaRules,
    pub rt: tokio::runtime::Handle,
    /// Local address for RTP sockets (the SIP listen address's IP).
    pub rtp_ip: IpAddr,
}

impl Engines {
    /// Load models and the flow. Blocking (seconds): call before taking calls.
    pub fn load(
        cfg: &Config,
        flow_path: Option<&Path>,
        rt: tokio::runtime::Handle,
        rtp_ip: IpAddr,
    ) -> Result<Self> {
        // Checked first: a bad rule should not wait for the models to load.
        let qa = crate::qa::QaRules::from_config(&cfg.qa)?;
        let default = match flow_path {
            Some(p) => Flow::load(p)?,
            None => cfg.dialog.load_flow()?,
        };
        let flows = Flows {
            default: Arc::new(default),
            routes: cfg.dialog.load_routes()?,
        };
        let models = crate::paths::models_dir(cfg);
        let ort = crate::paths::model(cfg, crate::paths::ORT_LIB);
        // One ONNX runtime environment for the process, shared by the VAD and the voice.
        let env = ivr_onnx::environment(&ort).context("loading the ONNX runtime")?;
        // Only what the flows need: an English-only deployment loads no Mandarin model.
        let languages = flows.languages();
        let codes: Vec<&str> = languages.iter().map(|l| l.code()).collect();
        let asr =
            ivr_asr::AsrPool::load(&models, &cfg.asr, &codes).context("loading the recognisers")?;
        // Semantic matching: the flows' examples embedded once, each caller turn embedded by
        // the recogniser's worker right after decoding.
        let nlu = crate::nlu::Understanding::load(cfg, &languages)?;
        for flow in flows.all() {
            nlu.attach(flow)?;
        }
        for &language in &languages {
            if let Some(embedder) = nlu.embedder(language) {
                asr.set_text_encoder(language.code(), embedder)?;
            }
        }
        let mut tts_cfg = cfg.tts.clone();
        tts_cfg.cache_dir = data_path(cfg, &cfg.tts.cache_dir).display().to_string();
        let mut voices = Vec::with_capacity(languages.len());
        for &language in &languages {
            let engine =
                ivr_tts::TtsEngine::start_language(&tts_cfg, language.code(), &models, &env)
                    .with_context(|| format!("loading the {language} voice"))?;
            voices.push((language, engine));
        }
        let voices = Voices(voices);
        for flow in flows.all() {
            let prompts = flow.all_fixed_prompts();
            let report = voices
                .get(flow.language)
                .prewarm(&prompts, None)
                .with_context(|| format!("synthesizing the prompts of flow {}", flow.name))?;
            let lead_ins = voices
                .get(flow.language)
                .prewarm_lead_ins(&flow.prompt_lead_ins(), None)
                .with_context(|| format!("synthesizing the lead-ins of flow {}", flow.name))?;
            tracing::info!(
                flow = %flow.name,
                language = %flow.language,
                cached = report.already_cached + lead_ins.already_cached,
                synthesized = report.synthesized + lead_ins.synthesized,
                lead_ins = lead_ins.already_cached + lead_ins.synthesized,
                "prompt cache ready"
            );
        }
        // SQLite demo database by default; a webhook when `[dialog] webhook_url` is set.
        let backend: Arc<dyn Backend> = Arc::from(
            cfg.dialog
                .backend_in(Path::new(&cfg.data_dir))
                .context("opening the lookup backend")?,
        );
        let records = RecordStore::open(Path::new(&cfg.data_dir))?;
        Ok(Self {
            cfg: cfg.clone(),
            flows,
            asr,
            ort: env,
            voices,
            backend,
            records,
            qa,
            rt,
            rtp_ip,
        })
    }

    /// A new speech front end (VAD + endpointer) for one call.
    pub fn speech_stream(&self) -> Result<ivr_asr::SpeechStream> {
        let model = crate::paths::model(&self.cfg, &self.cfg.asr.vad_model);
        let vad = ivr_asr::SileroVad::new(&self.ort, &model, ivr_asr::VadRate::Hz16000)
            .context("loading the VAD")?;
        Ok(ivr_asr::SpeechStream::new(vad, &self.cfg.asr)?)
    }

    /// Where the audio of a `Speak` output comes from (both shells answer it this way):
    /// the prompt cache for prompts the dialog marked cacheable, else live synthesis at
    /// 8 kHz.
    pub fn speech_source(
        &self,
        language: Language,
        text: &str,
        cacheable: bool,
        speed: f32,
    ) -> Result<SpeechSource, ivr_tts::TtsError> {
        let tts = self.voices.get(language);
        if cacheable && let Some(pcm) = tts.cached_prompt(text, Some(speed)) {
            return Ok(SpeechSource::Cached(pcm));
        }
        let opts = ivr_tts::SynthOptions {
            speed: Some(speed),
            sample_rate: ivr_media::SAMPLE_RATE,
        };
        tts.synthesize(text, opts).map(SpeechSource::Live)
    }

    /// A transfer target is a SIP URI, or a skill group name put into `server.agent_uri`.
    pub fn transfer_uri(&self, target: &str) -> String {
        if target.starts_with("sip:") || target.starts_with("sips:") {
            target.to_string()
        } else {
            self.cfg.server.agent_uri.replace("{group}", target)
        }
    }
}

/// The flows calls run: the default, and one per routed user part (`[[dialog.routes]]`).
pub struct Flows {
    pub default: Arc<Flow>,
    routes: Vec<(String, Arc<Flow>)>,
}

impl Flows {
    /// The flow for a call to `user` (the Request-URI user part).
    pub fn for_user(&self, user: &str) -> &Arc<Flow> {
        self.routes
            .iter()
            .find(|(u, _)| u == user)
            .map_or(&self.default, |(_, f)| f)
    }

    /// The languages the flows speak, the default flow's first.
    pub fn languages(&self) -> Vec<Language> {
        let mut out: Vec<Language> = Vec::new();
        for f in self.all() {
            if !out.contains(&f.language) {
                out.push(f.language);
            }
        }
        out
    }

    /// Every distinct flow, the default first.
    pub fn all(&self) -> Vec<&Arc<Flow>> {
        let mut out = vec![&self.default];
        for (_, f) in &self.routes {
            if !out.iter().any(|o| Arc::ptr_eq(o, f)) {
                out.push(f);
            }
        }
        out
    }
}

/// The voices, one per language the flows speak (`Engines::load` starts one for each).
pub struct Voices(Vec<(Language, ivr_tts::TtsEngine)>);

impl Voices {
    /// The voice for `language`. Every flow's language has one, so a miss can only be the
    /// first voice's language serving a flow loaded later: fall back to it.
    pub fn get(&self, language: Language) -> &ivr_tts::TtsEngine {
        let first = &self.0[0].1;
        self.0
            .iter()
            .find(|(l, _)| *l == language)
            .map_or(first, |(_, e)| e)
    }
}

/// The audio for one prompt.
pub enum SpeechSource {
    /// The whole prompt, from the cache: hand it to the core at once.
    Cached(Arc<[i16]>),
    /// Synthesis under way: its chunks arrive on the stream.
    Live(ivr_tts::SynthStream),
}

/// Per-call core settings from the config and the negotiated media.
pub fn core_config(
    cfg: &Config,
    codec: ivr_media::Codec,
    telephone_event_pt: Option<u8>,
    remote_rtp: Option<std::net::SocketAddr>,
) -> core::CoreConfig {
    core::CoreConfig {
        codec,
        telephone_event_pt,
        remote_rtp,
        jitter_min: Duration::from_millis(cfg.media.jitter_min_ms as u64),
        jitter_max: Duration::from_millis(cfg.media.jitter_max_ms as u64),
        speculative: cfg.asr.speculative,
        max_call: Duration::from_secs(cfg.server.max_call_s),
        speed: cfg.tts.speed,
        start_wallclock: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default(),
        rtp_seeds: core::RtpSeeds::random(),
    }
}

/// Publishes what a call's core counted since the last call, as process metrics.
#[derive(Debug, Default)]
pub struct MetricsPublisher {
    turns: usize,
    stats: core::CoreStats,
}

impl MetricsPublisher {
    pub fn publish(&mut self, core: &core::CallCore) {
        for l in core.turn_latencies().get(self.turns..).unwrap_or_default() {
            for (stage, v) in [
                ("asr", l.asr_ms),
                ("dialog", l.dialog_ms),
                ("first_audio", l.first_audio_ms),
            ] {
                if let Some(ms) = v {
                    metrics::histogram!("ivr_turn_latency_seconds", "stage" => stage)
                        .record(ms / 1000.0);
                }
            }
        }
        self.turns = core.turn_latencies().len();
        let stats = core.stats();
        let early = stats
            .early_endpoints
            .saturating_sub(self.stats.early_endpoints);
        if early > 0 {
            metrics::counter!("ivr_early_endpoints_total").increment(early);
        }
        self.stats = stats;
    }
}

/// The dialog's hints for one turn as Whisper's initial prompt.
pub fn asr_hints(hints: &[String]) -> ivr_asr::Hints {
    if hints.is_empty() {
        ivr_asr::Hints::default()
    } else {
        ivr_asr::Hints::prompt(hints.join(", "))
    }
}

/// A path from the config: absolute as given, relative ones under the data dir.
pub fn data_path(cfg: &Config, p: &str) -> std::path::PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        Path::new(&cfg.data_dir).join(p)
    }
}
