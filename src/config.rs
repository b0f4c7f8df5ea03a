//! `ivr.toml`: one file, every field with an embedded default, `IVR_*` overrides.
//!
//! Each crate owns its section's type; this file only composes them. Unknown keys and
//! bad values are errors reported as `file:line:col`.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Models directory (fetched by `make models`).
    pub models_dir: String,
    /// Data directory: call records, prompt cache, database.
    pub data_dir: String,
    pub server: ServerConfig,
    pub sip: ivr_sip::SipConfig,
    pub media: ivr_media::MediaConfig,
    pub asr: ivr_asr::AsrConfig,
    pub tts: ivr_tts::TtsConfig,
    pub dialog: ivr_dialog::DialogConfig,
    pub console: crate::console::ConsoleConfig,
    pub nlu: crate::nlu::NluConfig,
    pub qa: crate::qa::QaConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            models_dir: "models".into(),
            data_dir: "data".into(),
            server: ServerConfig::default(),
            sip: Default::default(),
            media: Default::default(),
            asr: Default::default(),
            tts: Default::default(),
            dialog: Default::default(),
            console: Default::default(),
            nlu: Default::default(),
            qa: Default::default(),
        }
    }
}

/// `[server]`: the HTTP side (metrics, health) and process-wide behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Metrics and health endpoint (port 0 = any free port).
    pub http: String,
    /// On SIGTERM, how long active calls may go on before they are ended.
    pub drain_timeout_s: u64,
    /// Call records older than this many days are deleted at start-up (0 = keep all).
    pub retention_days: u32,
    /// Calls are ended after this many seconds whatever happens.
    pub max_call_s: u64,
    /// Where a transfer to a skill group goes; `{group}` is replaced by its name.
    pub agent_uri: String,
    /// Fault injection, for checking call isolation: a call to this user part panics
    /// its call thread right after it is answered. Empty (the default): off.
    pub fault_panic_user: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http: "127.0.0.1:9090".into(),
            drain_timeout_s: 30,
            retention_days: 90,
            max_call_s: 600,
            agent_uri: "sip:{group}@127.0.0.1:5080".into(),
            fault_panic_user: String::new(),
        }
    }
}

impl Config {
    /// Defaults, then the file (if any), then `IVR_*` environment variables.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let base = match path {
            Some(p) => {
                let src = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config {}", p.display()))?;
                parse(&src, &p.display().to_string())?
            }
            None => Config::default(),
        };
        base.with_env(std::env::vars())
    }

    /// Apply `IVR_SECTION__FIELD=value` overrides (`IVR_MODELS_DIR` for top-level fields).
    /// Values are read as TOML literals when they parse as one, else as strings.
    pub fn with_env(self, vars: impl Iterator<Item = (String, String)>) -> Result<Self> {
        let mut tree = toml::Value::try_from(&self)?;
        let mut changed = false;
        for (key, val) in vars {
            let Some(rest) = key.strip_prefix("IVR_") else {
                continue;
            };
            if rest == "CONFIG" {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
            let value = toml::from_str::<toml::Table>(&format!("v = {val}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(val.clone()));
            set_path(&mut tree, &path, value)
                .map_err(|field| anyhow!("{key}: no config field {field}"))?;
            changed = true;
        }
        if !changed {
            return Ok(self);
        }
        let src = toml::to_string(&tree)?;
        parse(&src, "environment (IVR_*)")
    }
}

/// Set `path` inside a TOML tree; only existing fields may be set. Err = the bad field.
fn set_path(node: &mut toml::Value, path: &[String], value: toml::Value) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        return Err(String::new());
    };
    let child = node
        .as_table_mut()
        .and_then(|t| t.get_mut(first))
        .ok_or_else(|| first.clone())?;
    if rest.is_empty() {
        *child = value;
        Ok(())
    } else {
        set_path(child, rest, value).map_err(|f| format!("{first}.{f}"))
    }
}

/// Parse a config, mapping errors to `name:line:col: message`.
pub fn parse(src: &str, name: &str) -> Result<Config> {
    toml::from_str(src).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(src, s.start)).unwrap_or((1, 1));
        anyhow!("{name}:{line}:{col}: {}", e.message())
    })
}

/// 1-based line and column of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip() {
        let text = toml::to_string(&Config::default()).unwrap();
        assert_eq!(parse(&text, "x").unwrap(), Config::default());
    }

    #[test]
    fn asr_languages_parse_over_the_built_in_defaults() {
        let cfg = parse(
            "[asr.languages.zh]\ninitial_prompt = \"以下是快递热线的普通话。\"\n",
            "ivr.toml",
        )
        .unwrap();
        let zh = cfg.asr.language_settings("zh").unwrap();
        assert_eq!(zh.initial_prompt, "以下是快递热线的普通话。");
        assert_eq!(zh.model, "ggml-base.bin");
        assert_eq!(
            cfg.asr.language_settings("en").unwrap().model,
            "ggml-tiny.en.bin"
        );
        let err = parse("[asr.languages.zh]\nprompt = \"x\"\n", "ivr.toml").unwrap_err();
        assert!(err.to_string().starts_with("ivr.toml:2:1:"), "{err}");
    }

    #[test]
    fn unknown_key_reports_line_and_column() {
        let err = parse("[sip]\nmax_calls = 4\nlisten_addr = \"x\"\n", "ivr.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("ivr.toml:3:1:"), "{msg}");
        assert!(msg.contains("listen_addr"), "{msg}");
    }

    #[test]
    fn bad_type_reports_position() {
        let err = parse("[sip]\nmax_calls = \"many\"\n", "f.toml").unwrap_err();
        assert!(err.to_string().starts_with("f.toml:2:13:"), "{err}");
    }

    #[test]
    fn env_overrides_nested_and_top_level() {
        let vars = vec![
            ("IVR_SIP__MAX_CALLS".to_string(), "7".to_string()),
            ("IVR_MODELS_DIR".to_string(), "/m".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let c = Config::default().with_env(vars.into_iter()).unwrap();
        assert_eq!(c.sip.max_calls, 7);
        assert_eq!(c.models_dir, "/m");
    }

    #[test]
    fn env_unknown_field_is_an_error() {
        let vars = vec![("IVR_SIP__NOPE".to_string(), "1".to_string())];
        let err = Config::default().with_env(vars.into_iter()).unwrap_err();
        assert!(err.to_string().contains("sip.nope"), "{err}");
    }
}
