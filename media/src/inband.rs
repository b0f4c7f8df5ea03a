//! In-band DTMF detection (Goertzel), a fallback for trunks that send key presses as tones
//! in the audio instead of RFC 4733. Feed the 8 kHz caller frames; digits come out once per
//! key press.
//!
//! Per 205-sample block (25.6 ms, the classic size: bins fall close to all eight tones):
//! one row and one column tone must each stand 6 dB above the other tones of their group,
//! together hold most of the block's energy (speech spreads its energy, tones do not),
//! be loud enough (about -30 dBm0), and have a twist within +8/-4 dB. A digit needs two
//! consecutive blocks (>= 40 ms) and is reported once until a block without it.

use crate::SAMPLE_RATE;

const BLOCK: usize = 205;
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// Minimum per-tone mean power (amplitude ~ 1000 of 32768, about -30 dBm0).
const MIN_TONE_POWER: f32 = 1000.0 * 1000.0 / 2.0;
const MIN_ENERGY_FRACTION: f32 = 0.7;
const PEAK_RATIO: f32 = 4.0; // 6 dB
const MAX_FORWARD_TWIST: f32 = 6.3; // column above row, 8 dB
const MAX_REVERSE_TWIST: f32 = 2.5; // row above column, 4 dB

fn coeff(f: f32) -> f32 {
    2.0 * (2.0 * std::f32::consts::PI * f / SAMPLE_RATE as f32).cos()
}

/// Mean power of the component at frequency with Goertzel coefficient `c`.
fn goertzel_power(x: &[f32], c: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &v in x {
        let s = v + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let mag2 = s1 * s1 + s2 * s2 - c * s1 * s2;
    // a sine of amplitude A gives mag2 ~ (A N / 2)^2; its mean power is A^2 / 2
    2.0 * mag2 / (x.len() * x.len()) as f32
}

#[derive(Debug)]
pub struct InbandDtmfDetector {
    buf: Vec<f32>,
    row_coeffs: [f32; 4],
    col_coeffs: [f32; 4],
    last_block: Option<char>,
    reported: Option<char>,
}

impl Default for InbandDtmfDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDtmfDetector {
    pub fn new() -> Self {
        Self {
            buf: Vec::with_capacity(BLOCK),
            row_coeffs: ROWS.map(coeff),
            col_coeffs: COLS.map(coeff),
            last_block: None,
            reported: None,
        }
    }

    /// Feeds 8 kHz audio; returns the digits that completed detection (usually none).
    pub fn push(&mut self, samples: &[i16]) -> Vec<char> {
        let mut out = Vec::new();
        for &s in samples {
            self.buf.push(s as f32);
            if self.buf.len() == BLOCK {
                let d = self.classify();
                self.buf.clear();
                match d {
                    Some(k) if self.last_block == Some(k) && self.reported != Some(k) => {
                        self.reported = Some(k);
                        out.push(k);
                    }
                    None => self.reported = None,
                    _ => {}
                }
                self.last_block = d;
            }
        }
        out
    }

    fn classify(&self) -> Option<char> {
        let x = &self.buf;
        let mean_power = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
        if mean_power < MIN_TONE_POWER {
            return None;
        }
        let rows = self.row_coeffs.map(|c| goertzel_power(x, c));
        let cols = self.col_coeffs.map(|c| goertzel_power(x, c));
        let best = |p: &[f32; 4]| {
            let (i, &m) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
            let others_ok = p
                .iter()
                .enumerate()
                .all(|(j, &v)| j == i || v * PEAK_RATIO <= m);
            others_ok.then_some((i, m))
        };
        let (r, pr) = best(&rows)?;
        let (c, pc) = best(&cols)?;
        if pr < MIN_TONE_POWER || pc < MIN_TONE_POWER {
            return None;
        }
        if pc > pr * MAX_FORWARD_TWIST || pr > pc * MAX_REVERSE_TWIST {
            return None;
        }
        if (pr + pc) < MIN_ENERGY_FRACTION * mean_power {
            return None;
        }
        Some(KEYS[r][c])
    }
}

/// Generates a DTMF tone pair (for tests and for sending in-band when no RFC 4733).
pub fn dtmf_tone(digit: char, ms: u32, amplitude: f32) -> Option<Vec<i16>> {
    let up = digit.to_ascii_uppercase();
    let (r, c) = (0..4)
        .flat_map(|r| (0..4).map(move |c| (r, c)))
        .find(|&(r, c)| KEYS[r][c] == up)?;
    let n = (SAMPLE_RATE * ms / 1000) as usize;
    let w =
        |f: f32, i: usize| (2.0 * std::f32::consts::PI * f * i as f32 / SAMPLE_RATE as f32).sin();
    Some(
        (0..n)
            .map(|i| (amplitude * (w(ROWS[r], i) + w(COLS[c], i))) as i16)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711::Codec;

    fn through_g711(x: &[i16]) -> Vec<i16> {
        let mut b = Vec::new();
        Codec::Pcma.encode(x, &mut b);
        let mut y = Vec::new();
        Codec::Pcma.decode(&b, &mut y);
        y
    }

    #[test]
    fn all_sixteen_digits_once_each_through_g711_and_noise() {
        let seq = "0123456789*#ABCD11";
        let mut audio = Vec::new();
        let mut noise = 12345u32;
        for d in seq.chars() {
            audio.extend(dtmf_tone(d, 80, 6000.0).unwrap());
            audio.extend(std::iter::repeat_n(0i16, 400)); // 50 ms gap
        }
        for s in audio.iter_mut() {
            noise = noise.wrapping_mul(1103515245).wrapping_add(12345);
            *s = s.saturating_add(((noise >> 16) % 400) as i16 - 200);
        }
        let audio = through_g711(&audio);
        let mut det = InbandDtmfDetector::new();
        let got: String = audio.chunks(160).flat_map(|f| det.push(f)).collect();
        assert_eq!(got, seq);
    }

    #[test]
    fn rejects_short_tones_excess_twist_single_tones_and_quiet_ones() {
        let mut det = InbandDtmfDetector::new();
        assert!(det.push(&dtmf_tone('5', 25, 6000.0).unwrap()).is_empty());
        assert!(det.push(&[0; 800]).is_empty());
        // column 12 dB above row
        let twisted: Vec<i16> = (0..800)
            .map(|i| {
                let t = i as f32 / 8000.0;
                (1500.0 * (2.0 * std::f32::consts::PI * 770.0 * t).sin()
                    + 6000.0 * (2.0 * std::f32::consts::PI * 1336.0 * t).sin())
                    as i16
            })
            .collect();
        assert!(det.push(&twisted).is_empty());
        let single: Vec<i16> = (0..800)
            .map(|i| {
                (8000.0 * (2.0 * std::f32::consts::PI * 852.0 * i as f32 / 8000.0).sin()) as i16
            })
            .collect();
        assert!(det.push(&single).is_empty());
        assert!(det.push(&dtmf_tone('5', 100, 300.0).unwrap()).is_empty());
    }
}
