//! Outbound pacing: one 20 ms frame per absolute deadline `start + n * 20 ms`, so timing
//! errors of the caller's timer never accumulate. Silence is sent when nothing is queued,
//! so RTP keeps flowing; `flush` (barge-in) drops everything queued at once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::{FRAME_DURATION, FRAME_SAMPLES};

/// A frame due for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFrame {
    /// Frame number since the pacer started: RTP timestamp = base + index * 160.
    pub index: u64,
    pub deadline: Instant,
    pub samples: [i16; FRAME_SAMPLES],
    /// No bot audio was queued (or only a partial tail padded with silence is NOT this case).
    pub is_silence: bool,
}

/// Counters for the call record.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PacerStats {
    pub frames: u64,
    pub audio_frames: u64,
    /// Deadlines passed over because the caller woke up more than `MAX_BURST` frames late.
    pub skipped_deadlines: u64,
    pub flushes: u64,
    pub flushed_samples: u64,
}

/// If the caller falls further behind than this many frames, the missed ones are skipped
/// (their timestamps too) rather than burst onto the network.
pub const MAX_BURST: u64 = 5;

#[derive(Debug)]
pub struct Pacer {
    start: Instant,
    next_index: u64,
    queue: VecDeque<i16>,
    stats: PacerStats,
    /// Samples played since the last `mark_played_offset_reset`, for barge-in offsets.
    played: u64,
}

impl Pacer {
    /// The first frame is due at `start`.
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            next_index: 0,
            queue: VecDeque::new(),
            stats: PacerStats::default(),
            played: 0,
        }
    }

    /// Queues 8 kHz bot audio.
    pub fn push(&mut self, samples: &[i16]) {
        self.queue.extend(samples);
    }

    /// Drops all queued audio (barge-in); the next frame is silence. Returns the number of
    /// samples dropped.
    pub fn flush(&mut self) -> usize {
        let n = self.queue.len();
        self.queue.clear();
        self.stats.flushes += 1;
        self.stats.flushed_samples += n as u64;
        n
    }

    /// Samples waiting to be sent.
    pub fn queued_samples(&self) -> usize {
        self.queue.len()
    }

    /// Audio samples sent since the pacer started (for "interrupted at offset").
    pub fn played_samples(&self) -> u64 {
        self.played
    }

    pub fn stats(&self) -> &PacerStats {
        &self.stats
    }

    /// When the next frame is due: sleep until then, then call `poll`.
    pub fn next_deadline(&self) -> Instant {
        self.deadline_of(self.next_index)
    }

    fn deadline_of(&self, index: u64) -> Instant {
        // Computed from `start` each time (no accumulated additions).
        self.start + Duration::from_nanos(FRAME_DURATION.as_nanos() as u64 * index)
    }

    /// The next frame if its deadline has passed. Call in a loop until None after each wake-up.
    pub fn poll(&mut self, now: Instant) -> Option<OutFrame> {
        if now < self.next_deadline() {
            return None;
        }
        let behind = (now
            .saturating_duration_since(self.next_deadline())
            .as_nanos()
            / FRAME_DURATION.as_nanos()) as u64;
        if behind > MAX_BURST {
            self.stats.skipped_deadlines += behind;
            self.next_index += behind;
        }
        let index = self.next_index;
        self.next_index += 1;
        let mut samples = [0i16; FRAME_SAMPLES];
        let n = self.queue.len().min(FRAME_SAMPLES);
        for (dst, src) in samples.iter_mut().zip(self.queue.drain(..n)) {
            *dst = src;
        }
        self.stats.frames += 1;
        if n > 0 {
            self.stats.audio_frames += 1;
            self.played += n as u64;
        }
        Some(OutFrame {
            index,
            deadline: self.deadline_of(index),
            samples,
            is_silence: n == 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One simulated hour with a timer that wakes 0-3 ms late: every frame's deadline is
    /// exactly start + n*20 ms, and the last one is exactly at 1 h.
    #[test]
    fn simulated_hour_has_zero_drift() {
        let start = Instant::now();
        let mut p = Pacer::new(start);
        let frames = 3600 * 50u64;
        let mut sent = 0u64;
        let mut jitter = 0u64;
        while sent < frames {
            jitter = (jitter * 1103515245 + 12345) % 3_000_000; // pseudo-random lateness, ns
            let wake = p.next_deadline() + Duration::from_nanos(jitter);
            while let Some(f) = p.poll(wake) {
                assert_eq!(f.deadline, start + Duration::from_millis(20 * f.index));
                assert_eq!(f.index, sent);
                sent += 1;
            }
        }
        assert_eq!(p.next_deadline() - start, Duration::from_secs(3600));
        assert_eq!(p.stats().skipped_deadlines, 0);
    }

    #[test]
    fn flush_empties_within_one_frame() {
        let start = Instant::now();
        let mut p = Pacer::new(start);
        p.push(&[1000; 8000]);
        let f0 = p.poll(start).unwrap();
        assert!(!f0.is_silence);
        assert_eq!(p.flush(), 8000 - 160);
        let f1 = p.poll(start + FRAME_DURATION).unwrap();
        assert!(f1.is_silence && f1.samples.iter().all(|&s| s == 0));
        assert_eq!(p.played_samples(), 160);
    }

    #[test]
    fn partial_frame_padded_and_silence_when_empty() {
        let start = Instant::now();
        let mut p = Pacer::new(start);
        assert!(p.poll(start - Duration::from_millis(1)).is_none());
        p.push(&[7; 100]);
        let f = p.poll(start).unwrap();
        assert_eq!(&f.samples[..100], &[7; 100]);
        assert!(f.samples[100..].iter().all(|&s| s == 0));
        assert!(
            p.poll(start + Duration::from_millis(20))
                .unwrap()
                .is_silence
        );
    }

    #[test]
    fn far_behind_skips_instead_of_bursting() {
        let start = Instant::now();
        let mut p = Pacer::new(start);
        let late = start + Duration::from_millis(1000);
        let mut n = 0;
        let mut last = None;
        while let Some(f) = p.poll(late) {
            n += 1;
            last = Some(f.index);
        }
        assert!(n <= MAX_BURST as usize + 1, "{n}");
        assert_eq!(last, Some(50));
    }
}
