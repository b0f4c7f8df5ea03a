//! Mandarin (普通话) understanding: slot parsers, sentiment, global commands and the
//! pinyin intent matcher, chosen by a flow's `language = "zh"` (see `language.rs`).

mod commands;
mod intent;
mod sentiment;
mod slots;
mod text;

pub(crate) use commands::GLOBAL_INTENTS;
pub(crate) use intent::{PinyinMatcher, keywords, syllables};
pub(crate) use sentiment::score as sentiment;
pub(crate) use slots::{amount, choice, date, digits, negated, render_date, time, yes_no};
pub(crate) use text::fold_width;
