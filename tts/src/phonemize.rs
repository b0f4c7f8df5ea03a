//! Text -> IPA phonemes. The `Phonemizer` trait keeps espeak-ng (GPL-3) swappable: another
//! implementation, or one that talks to espeak-ng in a separate process, can replace it.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::Mutex;

use crate::TtsError;

/// Turns one chunk of normalised text into IPA phonemes, with punctuation phonemes
/// (`, . ? ! ; :`) kept in place so the voice gets the prosody at clause and sentence ends.
pub trait Phonemizer: Send + Sync {
    fn phonemize(&self, text: &str) -> Result<String, TtsError>;
}

// Debian's libespeak-ng 1.51 (speak_lib.h).
const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
const ESPEAK_INITIALIZE_DONT_EXIT: c_int = 0x8000;
const ESPEAK_CHARS_UTF8: c_int = 1;
const ESPEAK_PHONEMES_IPA: c_int = 0x02;
const EE_OK: c_int = 0;

unsafe extern "C" {
    fn espeak_Initialize(
        output: c_int,
        buflength: c_int,
        path: *const c_char,
        options: c_int,
    ) -> c_int;
    fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
    fn espeak_TextToPhonemes(
        textptr: *mut *const c_void,
        textmode: c_int,
        phonememode: c_int,
    ) -> *const c_char;
}

/// espeak-ng keeps process-global state (voice, translator, static output buffer): every call
/// goes through this one lock. `Some(voice)` = initialised, with that voice selected.
static ESPEAK: Mutex<Option<String>> = Mutex::new(None);

/// Phonemizer backed by libespeak-ng (FFI). Cheap to create; all instances share the
/// library's global state behind one mutex.
#[derive(Debug, Clone)]
pub struct EspeakPhonemizer {
    voice: String,
}

impl EspeakPhonemizer {
    /// `voice` is the espeak voice name from the Piper voice config (e.g. `en-us`).
    pub fn new(voice: &str) -> Result<Self, TtsError> {
        let p = Self {
            voice: voice.to_string(),
        };
        // Fail early (missing espeak-ng-data, unknown voice) rather than on the first call.
        p.phonemize("test")?;
        Ok(p)
    }
}

/// Punctuation that ends a clause; its phoneme is put back after the clause's phonemes.
pub(crate) fn is_clause_punct(c: char) -> bool {
    matches!(c, ',' | '.' | '?' | '!' | ';' | ':')
}

impl Phonemizer for EspeakPhonemizer {
    fn phonemize(&self, text: &str) -> Result<String, TtsError> {
        let mut guard = ESPEAK
            .lock()
            .map_err(|_| TtsError::Espeak("espeak-ng lock poisoned".into()))?;
        if guard.as_deref() != Some(self.voice.as_str()) {
            if guard.is_none() {
                // SAFETY: plain C call; null path = the packaged espeak-ng-data.
                let rate = unsafe {
                    espeak_Initialize(
                        AUDIO_OUTPUT_SYNCHRONOUS,
                        0,
                        std::ptr::null(),
                        ESPEAK_INITIALIZE_DONT_EXIT,
                    )
                };
                if rate <= 0 {
                    return Err(TtsError::Espeak(
                        "espeak_Initialize failed (is espeak-ng-data installed? `make setup`)"
                            .into(),
                    ));
                }
            }
            let name = CString::new(self.voice.as_str())
                .map_err(|_| TtsError::Espeak("voice name contains NUL".into()))?;
            // SAFETY: NUL-terminated string that outlives the call.
            let rc = unsafe { espeak_SetVoiceByName(name.as_ptr()) };
            if rc != EE_OK {
                return Err(TtsError::Espeak(format!(
                    "espeak-ng has no voice {:?} (error {rc})",
                    self.voice
                )));
            }
            *guard = Some(self.voice.clone());
        }

        // espeak_TextToPhonemes handles one clause per call and drops the clause's
        // punctuation (1.51 lacks ...WithTerminator), so split at punctuation here and put the
        // punctuation phoneme back after each part.
        let mut out = String::new();
        let mut part = String::new();
        for c in text.chars() {
            if is_clause_punct(c) {
                append_clause(&mut out, &part)?;
                out.push(c);
                part.clear();
            } else if c != '\0' {
                part.push(c);
            }
        }
        append_clause(&mut out, &part)?;
        Ok(out.trim().to_string())
    }
}

/// Phonemes of punctuation-free text, appended to `out` with a word space. Caller holds the lock.
fn append_clause(out: &mut String, text: &str) -> Result<(), TtsError> {
    if text.trim().is_empty() {
        return Ok(());
    }
    let c_text =
        CString::new(text.trim()).map_err(|_| TtsError::Espeak("text contains NUL".into()))?;
    let mut ptr: *const c_void = c_text.as_ptr().cast();
    // espeak may still stop early (e.g. at characters it treats as clause ends); loop until
    // it has consumed the whole string (it sets the pointer to null at the end).
    for _ in 0..10_000 {
        if ptr.is_null() {
            break;
        }
        // SAFETY: ptr points into c_text (NUL-terminated, alive); the returned pointer is
        // espeak's static buffer, copied out at once while we hold the global lock.
        let ph = unsafe { espeak_TextToPhonemes(&mut ptr, ESPEAK_CHARS_UTF8, ESPEAK_PHONEMES_IPA) };
        if ph.is_null() {
            break;
        }
        let s = unsafe { CStr::from_ptr(ph) }.to_string_lossy();
        let s = strip_language_flags(s.trim());
        if s.is_empty() {
            continue;
        }
        if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
        out.push_str(&s);
    }
    Ok(())
}

/// Remove espeak's language-switch markers such as `(fr)` ... `(en)`, keeping the phonemes.
fn strip_language_flags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0u32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phonemizes_with_punctuation() {
        let p = EspeakPhonemizer::new("en-us").unwrap();
        let ph = p.phonemize("Hello, world. How are you?").unwrap();
        assert!(ph.contains(','), "{ph}");
        assert!(ph.contains('.'), "{ph}");
        assert!(ph.ends_with('?'), "{ph}");
        assert!(ph.contains("wˈɜːld"), "{ph}");
    }

    #[test]
    fn empty_and_odd_input() {
        let p = EspeakPhonemizer::new("en-us").unwrap();
        assert_eq!(p.phonemize("").unwrap(), "");
        assert_eq!(p.phonemize("  ,, ").unwrap(), ",,");
        let _ = p.phonemize("abc\u{0}def").unwrap();
    }

    #[test]
    fn unknown_voice_is_an_error() {
        assert!(EspeakPhonemizer::new("xx-nope").is_err());
        // and the good voice still works afterwards
        let p = EspeakPhonemizer::new("en-us").unwrap();
        assert!(!p.phonemize("yes").unwrap().is_empty());
    }

    #[test]
    fn strips_language_flags() {
        assert_eq!(strip_language_flags("a(fr)b(en)c"), "abc");
    }
}
