#!/usr/bin/env python3
"""Packetise an 8 kHz mono 16-bit WAV into a caller's RTP stream in a pcap file.

G.711 PCMU, 20 ms packets, RFC 4733 telephone-events (payload type 101) for keypad
digits, optional random packet loss and capture jitter (seeded: the output is the same
on every run). Used by scripts/make-call-fixtures.sh for the replay fixtures.

usage: wav2pcap.py IN.wav OUT.pcap [--loss PCT] [--jitter-ms MS] [--seed N]
                   [--dtmf SECONDS:DIGITS ...]
"""

import argparse
import random
import struct
import sys
import wave

SRC = ("192.0.2.10", 40000)  # the caller's phone (TEST-NET-1)
DST = ("192.0.2.1", 20000)  # the IVR
SSRC = 0x1C0FFEE5
EVENT_PT = 101
T0 = 1_778_000_000  # capture start (seconds since the epoch), fixed for reproducibility


def ulaw(sample: int) -> int:
    """ITU-T G.711 mu-law encoding of one 16-bit sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample
    sample = min(sample, clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not (sample & mask):
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(payload: bytes, ident: int) -> bytes:
    """Ethernet + IPv4 + UDP around an RTP payload (UDP checksum 0 = not computed)."""
    udp = struct.pack("!HHHH", SRC[1], DST[1], 8 + len(payload), 0) + payload
    src = bytes(int(x) for x in SRC[0].split("."))
    dst = bytes(int(x) for x in DST[0].split("."))
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0xB8, 20 + len(udp), ident & 0xFFFF, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    eth = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
    return eth + ip + udp


def rtp(pt: int, seq: int, ts: int, marker: bool, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, SSRC) + payload


DIGITS = "0123456789*#"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("wav")
    ap.add_argument("pcap")
    ap.add_argument("--loss", type=float, default=0.0, help="percent of audio packets lost")
    ap.add_argument("--jitter-ms", type=float, default=0.0, help="capture time jitter (max)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dtmf", action="append", default=[], help="SECONDS:DIGITS")
    a = ap.parse_args()

    with wave.open(a.wav, "rb") as w:
        if w.getframerate() != 8000 or w.getnchannels() != 1 or w.getsampwidth() != 2:
            print(f"{a.wav}: want 8 kHz mono 16-bit", file=sys.stderr)
            return 2
        raw = w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(raw) // 2}h", raw)
    rng = random.Random(a.seed)

    packets = []  # (time_s, rtp bytes, is_event)
    n_frames = (len(samples) + 159) // 160
    for i in range(n_frames):
        chunk = list(samples[i * 160:(i + 1) * 160])
        chunk += [0] * (160 - len(chunk))
        payload = bytes(ulaw(s) for s in chunk)
        packets.append([i * 0.02, 0, i * 160, i == 0, payload, False])

    # Keypad digits: RFC 4733, 100 ms tone + 3 end packets, 60 ms gap between digits.
    for spec in a.dtmf:
        at, digits = spec.split(":", 1)
        t = float(at)
        for d in digits:
            code = DIGITS.index(d)
            ts = int(round(t / 0.02)) * 160
            for k in range(1, 6):
                dur = k * 160
                end = k == 5
                body = struct.pack("!BBH", code, (0x80 if end else 0) | 10, dur)
                reps = 3 if end else 1
                for _ in range(reps):
                    packets.append([t + k * 0.02, 0, ts, k == 1, body, True])
            t += 0.16

    packets.sort(key=lambda p: (p[0], p[5]))
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    seq = rng.randrange(0, 65536)
    ident = 0
    last_time = 0.0
    for t, _, ts, marker, payload, is_event in packets:
        seq += 1  # lost packets still use a sequence number
        if not is_event and a.loss > 0 and rng.random() * 100 < a.loss:
            continue
        when = max(last_time, t + rng.uniform(0, a.jitter_ms / 1000.0))
        last_time = when
        data = frame(rtp(EVENT_PT if is_event else 0, seq, ts, marker, payload), ident)
        ident += 1
        sec = T0 + int(when)
        usec = int(round((when - int(when)) * 1e6))
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        out += struct.pack("<IIII", sec, usec, len(data), len(data)) + data
    with open(a.pcap, "wb") as f:
        f.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
