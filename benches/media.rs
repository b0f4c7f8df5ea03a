//! Criterion benchmarks for ivr-media (`make bench`), plus a real-time pacing measurement
//! on loopback (`IVR_BENCH_PACING_SECS`, default 60; 0 skips it).

use std::hint::black_box;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ivr_media::{
    AudioPacket, Codec, InbandDtmfDetector, Inbound, JitterBuffer, Pacer, RtpSender, RtpSession,
    RtpSessionConfig, StreamResampler,
};
use ivr_media::{RtpHeader, RtpPacket};

fn speechlike() -> Vec<i16> {
    (0..160)
        .map(|i| ((i as f32 * 0.37).sin() * 6000.0 + (i as f32 * 1.3).sin() * 2000.0) as i16)
        .collect()
}

fn g711(c: &mut Criterion) {
    let pcm = speechlike();
    let mut bytes = Vec::with_capacity(160);
    Codec::Pcma.encode(&pcm, &mut bytes);
    let mut out_b = Vec::with_capacity(160);
    let mut out_s = Vec::with_capacity(160);
    for codec in [Codec::Pcmu, Codec::Pcma] {
        c.bench_function(&format!("g711/{}/encode_20ms", codec.name()), |b| {
            b.iter(|| {
                out_b.clear();
                codec.encode(black_box(&pcm), &mut out_b);
            })
        });
        c.bench_function(&format!("g711/{}/decode_20ms", codec.name()), |b| {
            b.iter(|| {
                out_s.clear();
                codec.decode(black_box(&bytes), &mut out_s);
            })
        });
    }
}

fn rtp(c: &mut Criterion) {
    let pkt = RtpHeader {
        marker: false,
        payload_type: 8,
        sequence: 1,
        timestamp: 160,
        ssrc: 7,
    }
    .to_bytes(&[0xD5; 160]);
    c.bench_function("rtp/parse", |b| {
        b.iter(|| RtpPacket::parse(black_box(&pkt)).map(|p| p.payload.len()))
    });
}

fn jitter(c: &mut Criterion) {
    let base = Instant::now();
    let mut jb = JitterBuffer::new(Duration::from_millis(20), Duration::from_millis(200));
    let samples = speechlike();
    let mut n: u32 = 0;
    c.bench_function("jitter/push_pop_per_packet", |b| {
        b.iter(|| {
            let now = base + Duration::from_millis(20 * n as u64);
            // mild jitter so the adaptive path is exercised
            let jitter_us = (n.wrapping_mul(2654435761) >> 20) % 30_000;
            jb.push(
                AudioPacket {
                    ssrc: 1,
                    sequence: n as u16,
                    timestamp: n * 160,
                    marker: false,
                    samples: samples.clone(),
                },
                now + Duration::from_micros(jitter_us as u64),
            );
            let f = jb.pop_frame(now + Duration::from_millis(10));
            n += 1;
            black_box(f.kind)
        })
    });
}

/// Everything the media path does per 20 ms tick of one call: receive + decode + jitter
/// buffer + in-band DTMF + 8->16 kHz resampling + pacing + encode + packetize.
fn call_tick(c: &mut Criterion) {
    let base = Instant::now();
    let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let mut session = RtpSession::new(RtpSessionConfig {
        codec: Codec::Pcma,
        telephone_event_pt: Some(101),
        remote: Some(peer),
        local_ssrc: 9,
    });
    let mut jb = JitterBuffer::new(Duration::from_millis(20), Duration::from_millis(200));
    let mut up = StreamResampler::caller_8k_to_16k().unwrap();
    let mut dtmf = InbandDtmfDetector::new();
    let mut pacer = Pacer::new(base);
    let mut tx = RtpSender::new(Codec::Pcma, Some(101), 5, 0, 0);
    let mut payload = Vec::new();
    Codec::Pcma.encode(&speechlike(), &mut payload);
    let bot = speechlike();
    let mut n: u32 = 0;
    let mut asr_in = Vec::with_capacity(4096);
    c.bench_function("call/one_20ms_tick", |b| {
        b.iter(|| {
            let now = base + Duration::from_millis(20 * n as u64);
            let pkt = RtpHeader {
                marker: false,
                payload_type: 8,
                sequence: n as u16,
                timestamp: n * 160,
                ssrc: 3,
            }
            .to_bytes(&payload);
            if let Inbound::Audio(a) = session.on_datagram(&pkt, peer, now) {
                jb.push(a, now);
            }
            let frame = jb.pop_frame(now);
            black_box(dtmf.push(&frame.samples));
            asr_in.clear();
            up.process_i16(&frame.samples, &mut asr_in).unwrap();
            pacer.push(&bot);
            let mut sent = 0;
            while let Some(f) = pacer.poll(now) {
                sent += tx.packetize(&f).len();
            }
            n += 1;
            black_box(sent)
        })
    });
}

/// Sends 20 ms packets on loopback paced by `Pacer` deadlines (sleep until deadline, the
/// way the call loop does with tokio's `sleep_until`) and reports inter-departure jitter.
fn pacing_on_loopback() {
    let secs: u64 = std::env::var("IVR_BENCH_PACING_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    if secs == 0 {
        return;
    }
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tx_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dest = rx.local_addr().unwrap();
    let frames = secs * 50;
    let receiver = std::thread::spawn(move || {
        let mut arrivals = Vec::with_capacity(frames as usize);
        let mut buf = [0u8; 1500];
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        while arrivals.len() < frames as usize {
            match rx.recv(&mut buf) {
                Ok(_) => arrivals.push(Instant::now()),
                Err(_) => break,
            }
        }
        arrivals
    });
    let start = Instant::now() + Duration::from_millis(50);
    let mut pacer = Pacer::new(start);
    let mut sender = RtpSender::new(Codec::Pcmu, None, 1, 0, 0);
    let mut departures = Vec::with_capacity(frames as usize);
    while (departures.len() as u64) < frames {
        let deadline = pacer.next_deadline();
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        while let Some(f) = pacer.poll(Instant::now()) {
            let pkt = sender.packetize(&f);
            tx_sock.send_to(&pkt, dest).unwrap();
            departures.push(Instant::now());
        }
    }
    let arrivals = receiver.join().unwrap();
    let report = |name: &str, t: &[Instant]| {
        let mut dev: Vec<f64> = t
            .windows(2)
            .map(|w| ((w[1] - w[0]).as_secs_f64() * 1000.0 - 20.0).abs())
            .collect();
        dev.sort_by(f64::total_cmp);
        let q = |p: f64| dev[((dev.len() - 1) as f64 * p) as usize];
        let drift = (t[t.len() - 1] - t[0]).as_secs_f64() * 1000.0 - 20.0 * (t.len() - 1) as f64;
        println!(
            "pacing/{name}: {} packets over {secs} s: |interval - 20 ms| p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; end-to-end drift {:.3} ms",
            t.len(),
            q(0.5),
            q(0.99),
            dev[dev.len() - 1],
            drift
        );
    };
    report("departures", &departures);
    if arrivals.len() > 1 {
        report("arrivals", &arrivals);
    }
    println!("pacing/stats: {:?}", pacer.stats());
}

fn pacing(_c: &mut Criterion) {
    pacing_on_loopback();
}

criterion_group!(benches, g711, rtp, jitter, call_tick, pacing);
criterion_main!(benches);
