//! Text normalisation shared by intent matching, slot filling and ASR scoring (WER).
//!
//! `for_matching` maps the many ways a transcript can spell the same thing to one form:
//! lowercase, punctuation folded to spaces (apostrophes dropped), and spoken or spaced
//! numbers collapsed into digit strings ("one two three" -> "123", "double five" -> "55",
//! "oh" as zero inside digit runs, "twenty one" -> "21", "1-2-3" -> "123").
//! Ordinals become "5th"/"21st" (so "fifth" and "5th" compare equal).

/// How one number word contributes to a spoken number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumWord {
    /// 0..=9
    Unit(u64),
    /// 10..=19
    Teen(u64),
    /// 20, 30, .. 90
    Tens(u64),
    Hundred,
    Thousand,
    /// "first" .. "ninetieth": 1..=90 (only some values)
    Ordinal(u64),
}

fn num_word(w: &str) -> Option<NumWord> {
    use NumWord::*;
    Some(match w {
        "zero" | "nought" => Unit(0),
        "one" => Unit(1),
        "two" => Unit(2),
        "three" => Unit(3),
        "four" => Unit(4),
        "five" => Unit(5),
        "six" => Unit(6),
        "seven" => Unit(7),
        "eight" => Unit(8),
        "nine" => Unit(9),
        "ten" => Teen(10),
        "eleven" => Teen(11),
        "twelve" => Teen(12),
        "thirteen" => Teen(13),
        "fourteen" => Teen(14),
        "fifteen" => Teen(15),
        "sixteen" => Teen(16),
        "seventeen" => Teen(17),
        "eighteen" => Teen(18),
        "nineteen" => Teen(19),
        "twenty" => Tens(20),
        "thirty" => Tens(30),
        "forty" | "fourty" => Tens(40),
        "fifty" => Tens(50),
        "sixty" => Tens(60),
        "seventy" => Tens(70),
        "eighty" => Tens(80),
        "ninety" => Tens(90),
        "hundred" => Hundred,
        "thousand" => Thousand,
        "first" => Ordinal(1),
        "third" => Ordinal(3),
        "fourth" => Ordinal(4),
        "fifth" => Ordinal(5),
        "sixth" => Ordinal(6),
        "seventh" => Ordinal(7),
        "eighth" => Ordinal(8),
        "ninth" => Ordinal(9),
        "tenth" => Ordinal(10),
        "eleventh" => Ordinal(11),
        "twelfth" => Ordinal(12),
        "thirteenth" => Ordinal(13),
        "fourteenth" => Ordinal(14),
        "fifteenth" => Ordinal(15),
        "sixteenth" => Ordinal(16),
        "seventeenth" => Ordinal(17),
        "eighteenth" => Ordinal(18),
        "nineteenth" => Ordinal(19),
        "twentieth" => Ordinal(20),
        "thirtieth" => Ordinal(30),
        _ => return None,
    })
}

/// One token after classification.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Num(NumWord),
    /// A token made only of ASCII digits.
    Digits(String),
    /// "oh" / "o": zero only inside a digit run.
    Oh,
    /// "double" (2) / "triple" (3): repeats the next digit.
    Repeat(usize),
    /// "and" inside a cardinal ("one hundred and five").
    And,
    Word(String),
}

/// Lowercase, drop apostrophes, everything else that is not a letter or digit -> space.
fn fold(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\'' || c == '\u{2019}' {
            continue;
        }
        if c.is_alphanumeric() {
            s.extend(c.to_lowercase());
        } else {
            s.push(' ');
        }
    }
    s
}

fn classify(words: &[&str]) -> Vec<Tok> {
    let mut toks: Vec<Tok> = words
        .iter()
        .map(|w| {
            if w.bytes().all(|b| b.is_ascii_digit()) {
                Tok::Digits((*w).to_string())
            } else if let Some(n) = num_word(w) {
                Tok::Num(n)
            } else {
                match *w {
                    "oh" | "o" => Tok::Oh,
                    "double" => Tok::Repeat(2),
                    "triple" => Tok::Repeat(3),
                    "and" => Tok::And,
                    "second" => Tok::Word("second".into()),
                    _ => Tok::Word((*w).to_string()),
                }
            }
        })
        .collect();
    // "second" is an ordinal only where a date reading is clear: "the second",
    // "twenty second", "second of".
    for i in 0..toks.len() {
        if toks[i] == Tok::Word("second".into()) {
            let prev_ok = i > 0
                && (matches!(&toks[i - 1], Tok::Word(w) if w == "the")
                    || matches!(toks[i - 1], Tok::Num(NumWord::Tens(_))));
            let next_ok = matches!(toks.get(i + 1), Some(Tok::Word(w)) if w == "of");
            if prev_ok || next_ok {
                toks[i] = Tok::Num(NumWord::Ordinal(2));
            }
        }
    }
    toks
}

fn is_digitish(t: Option<&Tok>) -> bool {
    match t {
        Some(Tok::Num(NumWord::Unit(_))) | Some(Tok::Oh) => true,
        Some(Tok::Digits(d)) => d.len() == 1,
        _ => false,
    }
}

/// "st", "nd", "rd" or "th" for a number written as an ordinal (21st, 12th).
pub(crate) fn ordinal_suffix(n: u64) -> &'static str {
    if (11..=13).contains(&(n % 100)) {
        return "th";
    }
    match n % 10 {
        1 => "st",
        2 => "nd",
        3 => "rd",
        _ => "th",
    }
}

/// A spoken cardinal being accumulated: `total` holds completed thousands.
#[derive(Debug, Clone, Copy)]
struct Cardinal {
    total: u64,
    group: u64,
    last: NumWord,
}

impl Cardinal {
    fn value(&self) -> u64 {
        self.total.saturating_add(self.group)
    }
}

/// Converts one run of number-ish tokens into output tokens (digit string, then maybe an ordinal).
fn convert_run(run: &[Tok], out: &mut Vec<String>) {
    let mut digits = String::new();
    let mut cur: Option<Cardinal> = None;
    let flush = |cur: &mut Option<Cardinal>, digits: &mut String| {
        if let Some(c) = cur.take() {
            digits.push_str(&c.value().to_string());
        }
    };
    let mut i = 0;
    while i < run.len() {
        match &run[i] {
            Tok::Digits(d) => {
                flush(&mut cur, &mut digits);
                digits.push_str(d);
            }
            Tok::Oh => {
                flush(&mut cur, &mut digits);
                digits.push('0');
            }
            Tok::Repeat(k) => {
                flush(&mut cur, &mut digits);
                let d = match run.get(i + 1) {
                    Some(Tok::Num(NumWord::Unit(v))) => Some(v.to_string()),
                    Some(Tok::Oh) => Some("0".into()),
                    Some(Tok::Digits(d)) if d.len() == 1 => Some(d.clone()),
                    _ => None,
                };
                if let Some(d) = d {
                    for _ in 0..*k {
                        digits.push_str(&d);
                    }
                    i += 1;
                }
            }
            Tok::And => {}
            Tok::Word(_) => {}
            Tok::Num(n) => {
                use NumWord::*;
                let after_mult = matches!(cur, Some(c) if matches!(c.last, Hundred | Thousand));
                let after_tens = matches!(cur, Some(c) if matches!(c.last, Tens(_)));
                match *n {
                    Unit(v) if v > 0 && (after_tens || after_mult) => {
                        if let Some(c) = cur.as_mut() {
                            c.group += v;
                            c.last = Unit(v);
                        }
                    }
                    Teen(v) | Tens(v) if after_mult => {
                        if let Some(c) = cur.as_mut() {
                            c.group += v;
                            c.last = *n;
                        }
                    }
                    Hundred => match cur.as_mut() {
                        Some(c)
                            if matches!(c.last, Unit(_) | Teen(_) | Tens(_))
                                && c.group > 0
                                && c.group < 100 =>
                        {
                            c.group *= 100;
                            c.last = Hundred;
                        }
                        _ => {
                            flush(&mut cur, &mut digits);
                            cur = Some(Cardinal {
                                total: 0,
                                group: 100,
                                last: Hundred,
                            });
                        }
                    },
                    Thousand => match cur.as_mut() {
                        Some(c) if c.last != Thousand && c.group > 0 && c.total == 0 => {
                            c.total = c.group.saturating_mul(1000);
                            c.group = 0;
                            c.last = Thousand;
                        }
                        _ => {
                            flush(&mut cur, &mut digits);
                            cur = Some(Cardinal {
                                total: 1000,
                                group: 0,
                                last: Thousand,
                            });
                        }
                    },
                    Ordinal(v) => {
                        let value = match cur {
                            Some(c) if v < 10 && (after_tens || after_mult) => {
                                cur = None;
                                c.value() + v
                            }
                            _ => {
                                flush(&mut cur, &mut digits);
                                v
                            }
                        };
                        if !digits.is_empty() {
                            out.push(std::mem::take(&mut digits));
                        }
                        out.push(format!("{value}{}", ordinal_suffix(value)));
                    }
                    Unit(_) | Teen(_) | Tens(_) => {
                        flush(&mut cur, &mut digits);
                        cur = Some(Cardinal {
                            total: 0,
                            group: match *n {
                                Unit(v) | Teen(v) | Tens(v) => v,
                                _ => 0,
                            },
                            last: *n,
                        });
                    }
                }
            }
        }
        i += 1;
    }
    flush(&mut cur, &mut digits);
    if !digits.is_empty() {
        out.push(digits);
    }
}

/// Normalise a transcript or phrase for comparison. See the module docs.
pub fn for_matching(text: &str) -> String {
    let folded = fold(text);
    let words: Vec<&str> = folded.split_whitespace().collect();
    let toks = classify(&words);
    let mut out: Vec<String> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        // A run: consecutive number-ish tokens. "and" only joins inside a cardinal,
        // "double"/"triple" only before a digit.
        let start = i;
        let mut j = i;
        while j < toks.len() {
            let ok = match &toks[j] {
                Tok::Num(_) | Tok::Digits(_) | Tok::Oh => true,
                Tok::Repeat(_) => is_digitish(toks.get(j + 1)),
                Tok::And => {
                    j > start
                        && matches!(
                            toks[j - 1],
                            Tok::Num(NumWord::Hundred) | Tok::Num(NumWord::Thousand)
                        )
                        && matches!(toks.get(j + 1), Some(Tok::Num(_)))
                }
                Tok::Word(_) => false,
            };
            if !ok {
                break;
            }
            j += 1;
        }
        if j == start {
            push_word(&toks[i], words[i], &mut out);
            i += 1;
            continue;
        }
        let run = &toks[start..j];
        // "oh"s alone ("oh I see") are words, not zeros.
        let has_number = run
            .iter()
            .any(|t| matches!(t, Tok::Num(_) | Tok::Digits(_)));
        if has_number {
            convert_run(run, &mut out);
        } else {
            for k in start..j {
                push_word(&toks[k], words[k], &mut out);
            }
        }
        i = j;
    }
    out.join(" ")
}

/// Whisper writes titles abbreviated ("Mr. Dashwood"); callers and references say them.
fn expand_abbreviation(word: &str) -> &str {
    match word {
        "mr" => "mister",
        "mrs" => "missus",
        "dr" => "doctor",
        _ => word,
    }
}

fn push_word(tok: &Tok, raw: &str, out: &mut Vec<String>) {
    match tok {
        Tok::Word(w) => out.push(expand_abbreviation(w).to_string()),
        _ => out.push(raw.to_string()),
    }
}

/// All digits the caller said or typed, in order ("my number is one two, 3 4" -> "1234").
/// `None` when there are none. Ordinals ("the 5th") are not digit strings.
pub fn digits_in(text: &str) -> Option<String> {
    let norm = for_matching(text);
    let digits: String = norm
        .split(' ')
        .filter(|w| w.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    if digits.is_empty() {
        None
    } else {
        Some(digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_folds_punctuation() {
        assert_eq!(for_matching("Hello, World!"), "hello world");
        assert_eq!(
            for_matching("I'd like to  TRACK my parcel."),
            "id like to track my parcel"
        );
        assert_eq!(for_matching("what’s up?"), "whats up");
        assert_eq!(for_matching(""), "");
        assert_eq!(for_matching("  ...  "), "");
        assert_eq!(
            for_matching("Mr. John Dashwood"),
            for_matching("mister john dashwood")
        );
    }

    #[test]
    fn spoken_digit_strings() {
        assert_eq!(for_matching("one two three"), "123");
        assert_eq!(for_matching("it's four five six please"), "its 456 please");
        assert_eq!(for_matching("double five"), "55");
        assert_eq!(for_matching("triple seven two"), "7772");
        assert_eq!(for_matching("double oh seven"), "007");
        assert_eq!(for_matching("one oh one"), "101");
        assert_eq!(for_matching("oh five"), "05");
        assert_eq!(for_matching("zero zero seven"), "007");
        assert_eq!(for_matching("1 2 3"), "123");
        assert_eq!(for_matching("123-456"), "123456");
        assert_eq!(for_matching("1 two 3"), "123");
    }

    #[test]
    fn oh_outside_digit_runs_is_a_word() {
        assert_eq!(for_matching("oh I see"), "oh i see");
        assert_eq!(for_matching("Oh, okay"), "oh okay");
        assert_eq!(for_matching("double trouble"), "double trouble");
    }

    #[test]
    fn cardinals() {
        assert_eq!(for_matching("twenty one"), "21");
        assert_eq!(for_matching("twenty-one"), "21");
        assert_eq!(for_matching("twenty"), "20");
        assert_eq!(for_matching("one hundred twenty three"), "123");
        assert_eq!(for_matching("one hundred and five"), "105");
        assert_eq!(for_matching("two thousand five"), "2005");
        assert_eq!(for_matching("nineteen hundred"), "1900");
        assert_eq!(for_matching("twenty twenty four"), "2024");
        assert_eq!(for_matching("fifteen dollars"), "15 dollars");
        assert_eq!(for_matching("bread and butter"), "bread and butter");
        assert_eq!(for_matching("one and two"), "1 and 2");
    }

    #[test]
    fn ordinals() {
        assert_eq!(for_matching("the fifth"), "the 5th");
        assert_eq!(for_matching("the twenty first"), "the 21st");
        assert_eq!(for_matching("the second of May"), "the 2nd of may");
        assert_eq!(for_matching("wait a second"), "wait a second");
        assert_eq!(for_matching("twenty second"), "22nd");
        assert_eq!(for_matching("eleventh"), "11th");
    }

    #[test]
    fn digits_in_collects_all_digits() {
        assert_eq!(
            digits_in("my number is one two, 3 4").as_deref(),
            Some("1234")
        );
        assert_eq!(digits_in("no digits here"), None);
        assert_eq!(digits_in("the fifth"), None);
        assert_eq!(digits_in("double five oh seven").as_deref(), Some("5507"));
        assert_eq!(digits_in(""), None);
    }

    #[test]
    fn absurd_input_does_not_panic() {
        let long = "nine ".repeat(10_000);
        assert_eq!(for_matching(&long).len(), 10_000);
        let _ = for_matching("thousand thousand hundred hundred and and double");
        let _ = for_matching("ninety nine thousand nine hundred ninety nine thousand");
        let _ = for_matching("\u{0}\u{1F600}ÄÖÜ ß");
    }
}

/// Word errors (substitutions + insertions + deletions) of `hyp` against `reference`,
/// comparing whitespace-separated words as given: normalise both sides first (e.g. with
/// [`for_matching`]). Word error rate = errors / reference words.
pub fn word_errors<S: AsRef<str>>(reference: &[S], hyp: &[S]) -> usize {
    let mut prev: Vec<usize> = (0..=hyp.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut cur = vec![i + 1; hyp.len() + 1];
        for (j, h) in hyp.iter().enumerate() {
            let sub = prev[j] + usize::from(r.as_ref() != h.as_ref());
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[hyp.len()]
}

#[cfg(test)]
mod word_error_tests {
    use super::word_errors;

    #[test]
    fn counts_substitutions_insertions_deletions() {
        let w = |s: &'static str| s.split_whitespace().collect::<Vec<_>>();
        assert_eq!(word_errors(&w("a b c"), &w("a b c")), 0);
        assert_eq!(word_errors(&w("a b c"), &w("a x c d")), 2);
        assert_eq!(word_errors(&w("a b c"), &w("")), 3);
        assert_eq!(word_errors(&w(""), &w("a")), 1);
    }
}
