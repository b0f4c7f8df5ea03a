//! Traditional -> Simplified Chinese on the recogniser's output (OpenCC's t2s tables,
//! embedded in the binary by ferrous-opencc: nothing is read at run time).

use std::sync::OnceLock;

use ferrous_opencc::OpenCC;
use ferrous_opencc::config::BuiltinConfig;

use crate::language::OutputScript;

fn t2s() -> Option<&'static OpenCC> {
    static CONVERTER: OnceLock<Option<OpenCC>> = OnceLock::new();
    CONVERTER
        .get_or_init(|| match OpenCC::from_config(BuiltinConfig::T2s) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(error = %e, "OpenCC t2s tables failed to load: zh output stays as written");
                None
            }
        })
        .as_ref()
}

/// Build the tables now (tens of ms once), not on a caller's first utterance.
pub fn prepare(script: OutputScript) {
    if script == OutputScript::Simplified {
        let _ = t2s();
    }
}

/// `text` in `script`.
pub fn convert(text: &str, script: OutputScript) -> String {
    match script {
        OutputScript::AsIs => text.to_owned(),
        OutputScript::Simplified => match t2s() {
            Some(c) if text.chars().any(is_han) => c.convert(text),
            _ => text.to_owned(),
        },
    }
}

/// A CJK unified ideograph (the hanzi ranges Whisper writes).
pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2EBEF | 0xF900..=0xFAFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traditional_becomes_simplified_offline() {
        assert_eq!(
            convert("甚至出現交易幾乎停滯的情況", OutputScript::Simplified),
            "甚至出现交易几乎停滞的情况"
        );
        assert_eq!(
            convert("我要查詢快遞，謝謝。", OutputScript::Simplified),
            "我要查询快递，谢谢。"
        );
        // Simplified text and other scripts pass through unchanged.
        assert_eq!(
            convert("一二线城市", OutputScript::Simplified),
            "一二线城市"
        );
        assert_eq!(convert("Track 42", OutputScript::Simplified), "Track 42");
        assert_eq!(convert("幾乎", OutputScript::AsIs), "幾乎");
    }

    #[test]
    fn han_ranges() {
        assert!(is_han('快') && is_han('递'));
        assert!(!is_han('a') && !is_han('，') && !is_han('1') && !is_han('。'));
    }
}
