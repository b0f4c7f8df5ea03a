//! RFC 4733 telephone events: receive (de-duplicated by timestamp) and send.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::MediaError;

/// Event codes 0-15 -> digit characters (RFC 4733 §3.2).
const DIGITS: &[u8; 16] = b"0123456789*#ABCD";

/// The character for an event code 0-15.
pub fn event_to_digit(event: u8) -> Option<char> {
    DIGITS.get(event as usize).map(|&b| b as char)
}

/// The event code for a digit character (case-insensitive A-D).
pub fn digit_to_event(digit: char) -> Option<u8> {
    let up = digit.to_ascii_uppercase();
    DIGITS
        .iter()
        .position(|&b| b as char == up)
        .map(|i| i as u8)
}

/// One RFC 4733 event payload (4 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub event: u8,
    pub end: bool,
    /// Volume in -dBm0 (0-63).
    pub volume: u8,
    /// Duration in timestamp units (8 kHz samples).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first event block of a payload. Redundant blocks (RFC 2198) are not used.
    pub fn parse(payload: &[u8]) -> Result<Self, MediaError> {
        let b = payload
            .get(..4)
            .ok_or(MediaError::Dtmf("payload shorter than 4 bytes"))?;
        Ok(Self {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            ((self.end as u8) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

/// A key press received from the caller, reported once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    pub digit: char,
    /// RTP timestamp of the event (its start).
    pub timestamp: u32,
    pub ssrc: u32,
}

/// De-duplicates RFC 4733 packets: one digit per (event timestamp, event code), whether
/// or not the marker bit was set, whichever packet (start, update, end) arrives first.
/// A packet of an event not heard for `EVENT_GAP` starts a new key press even with the
/// same timestamp: replayed captures (and some gateways) reuse timestamps.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    /// Recently reported (timestamp, event, last packet of it): absorbs retransmitted ends.
    seen: VecDeque<(u32, u8, Instant)>,
}

/// Longer than any event's updates and its three end packets are apart (RFC 4733 §2.5.1.4).
const EVENT_GAP: Duration = Duration::from_millis(1000);

impl DtmfReceiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the digit if this packet starts an event not reported yet.
    pub fn on_packet(
        &mut self,
        ssrc: u32,
        timestamp: u32,
        payload: &[u8],
        now: Instant,
    ) -> Result<Option<DtmfDigit>, MediaError> {
        let ev = TelephoneEvent::parse(payload)?;
        let Some(digit) = event_to_digit(ev.event) else {
            return Ok(None); // flash-hook and tones: not digits
        };
        if let Some(entry) = self.seen.iter_mut().find(|(ts, e, last)| {
            *ts == timestamp && *e == ev.event && now.saturating_duration_since(*last) < EVENT_GAP
        }) {
            entry.2 = now;
            return Ok(None);
        }
        if self.seen.len() >= 16 {
            self.seen.pop_front();
        }
        self.seen.push_back((timestamp, ev.event, now));
        Ok(Some(DtmfDigit {
            digit,
            timestamp,
            ssrc,
        }))
    }
}

/// State of an outgoing RFC 4733 event; `RtpSender` drives it one packet per 20 ms frame.
#[derive(Debug, Clone)]
pub(crate) struct DtmfSend {
    pub event: u8,
    /// Timestamp of the event start (constant across the event's packets).
    pub timestamp: u32,
    /// Total tone length in samples.
    pub total: u32,
    /// Samples covered so far.
    pub elapsed: u32,
    /// End packets still to send (3 in all, RFC 4733 §2.5.1.4).
    pub ends_left: u8,
    pub started: bool,
}

impl DtmfSend {
    pub fn new(event: u8, timestamp: u32, duration_ms: u32) -> Self {
        // Long events would need segmenting at 65535 samples: cap at 8 s instead.
        let total = (duration_ms.clamp(40, 8000) * 8).min(u16::MAX as u32);
        Self {
            event,
            timestamp,
            total,
            elapsed: 0,
            ends_left: 3,
            started: false,
        }
    }

    /// Next payload and marker bit, or None when the event is over.
    pub fn next(&mut self, frame_samples: u32) -> Option<([u8; 4], bool)> {
        if self.ends_left == 0 {
            return None;
        }
        let marker = !self.started;
        self.started = true;
        self.elapsed = (self.elapsed + frame_samples).min(self.total);
        let end = self.elapsed >= self.total;
        if end {
            self.ends_left -= 1;
        }
        let ev = TelephoneEvent {
            event: self.event,
            end,
            volume: 10,
            duration: self.elapsed as u16,
        };
        Some((ev.to_bytes(), marker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_codes() {
        assert_eq!(event_to_digit(10), Some('*'));
        assert_eq!(event_to_digit(11), Some('#'));
        assert_eq!(event_to_digit(16), None);
        assert_eq!(digit_to_event('d'), Some(15));
        assert_eq!(digit_to_event('x'), None);
    }

    #[test]
    fn dedupe_by_timestamp_without_marker() {
        let mut rx = DtmfReceiver::new();
        let t0 = Instant::now();
        let p = |end: bool, dur: u16| {
            TelephoneEvent {
                event: 5,
                end,
                volume: 10,
                duration: dur,
            }
            .to_bytes()
        };
        // first packet lost (no marker seen): still reported exactly once
        assert_eq!(
            rx.on_packet(1, 1000, &p(false, 320), t0)
                .unwrap()
                .map(|d| d.digit),
            Some('5')
        );
        assert_eq!(rx.on_packet(1, 1000, &p(false, 480), t0).unwrap(), None);
        for _ in 0..3 {
            assert_eq!(rx.on_packet(1, 1000, &p(true, 800), t0).unwrap(), None);
        }
        // same digit pressed again: new timestamp
        assert!(rx.on_packet(1, 3000, &p(true, 800), t0).unwrap().is_some());
        assert!(rx.on_packet(1, 3000, &[1, 2], t0).is_err());
        // a replayed capture reuses the timestamp for a later press: new after a pause
        let later = t0 + Duration::from_secs(3);
        assert!(
            rx.on_packet(1, 1000, &p(false, 320), later)
                .unwrap()
                .is_some()
        );
        assert_eq!(
            rx.on_packet(1, 1000, &p(true, 800), later + Duration::from_millis(60))
                .unwrap(),
            None
        );
    }

    #[test]
    fn sender_sequence() {
        let mut s = DtmfSend::new(1, 500, 100);
        let mut pkts = Vec::new();
        while let Some(p) = s.next(160) {
            pkts.push(p);
        }
        // 100 ms = 800 samples: 5 packets to reach 800 (the 5th is the first end) + 2 more ends
        assert_eq!(pkts.len(), 7);
        assert!(pkts[0].1 && !pkts[1].1);
        let evs: Vec<_> = pkts
            .iter()
            .map(|(b, _)| TelephoneEvent::parse(b).unwrap())
            .collect();
        assert_eq!(evs.iter().filter(|e| e.end).count(), 3);
        assert_eq!(evs.last().unwrap().duration, 800);
        assert!(evs.windows(2).all(|w| w[0].duration <= w[1].duration));
    }
}
