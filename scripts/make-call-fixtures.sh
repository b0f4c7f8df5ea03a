#!/usr/bin/env bash
# Regenerates the scripted caller recordings in fixtures/calls/ (replayed by
# `ivr replay fixtures/calls` and tests/replay.rs). The generated files are committed,
# so CI never runs this; rerun it only to change a fixture, then check the replays.
#
# Voices: espeak-ng en-us, en-gb and en-us+f3 (female), and the Piper voice through
# `ivr say`; the Mandarin calls (zh_*, dialled to `kuaidi`) are spoken by Kokoro speakers
# other than the bot's own (zf_xiaobei) through `ivr say --language zh`. Every call goes through G.711 (sox u-law round trip for WAVs, PCMU in the
# pcaps); some get line noise, the pcaps some packet loss and capture jitter.
# A recording can't react to the bot, so pauses leave room for each bot prompt (or
# overlap it on purpose, for barge-in). No-input timeout of the demo flow: 6 s.
#
# needs: espeak-ng, sox, python3, and a built `ivr` (IVR=path/to/ivr to override).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=fixtures/calls
IVR=${IVR:-${CARGO_TARGET_DIR:-target}/release/ivr}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"

# ONLY="name1 name2" regenerates just those fixtures (the Piper voice is not bit-exact
# from run to run, so regenerating everything changes every Piper fixture a little).
wanted() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }

# ---- building blocks -------------------------------------------------------------
# A call is built segment by segment into $WORK/parts; $T is the running time (s).
begin() { rm -rf "$WORK/parts"; mkdir -p "$WORK/parts"; N=0; T=0; DTMF=(); }

add_wav() { # add_wav FILE: append an 8 kHz mono 16-bit file
    N=$((N + 1)); cp "$1" "$WORK/parts/$(printf %03d $N).wav"
    T=$(python3 -c "print($T + $(soxi -D "$1"))")
}

silence() { # silence SECONDS
    sox -n -r 8000 -c 1 -b 16 "$WORK/sil.wav" trim 0 "$1"
    add_wav "$WORK/sil.wav"
}

say() { # say PAUSE VOICE TEXT   (VOICE: an espeak-ng voice, "piper", or "kokoro/SPEAKER")
    silence "$1"
    local raw="$WORK/raw.wav"
    if [ "$2" = piper ]; then
        "$IVR" say "$3" --rate 8000 -o "$raw" >/dev/null
    elif [[ "$2" == kokoro/* ]]; then
        "$IVR" say --language zh --voice "$2" "$3" --rate 8000 -o "$raw" >/dev/null
    else
        espeak-ng -v "$2" -s 150 -w "$raw" "$3"
    fi
    sox "$raw" -r 8000 -c 1 -b 16 "$WORK/seg.wav" norm -3
    add_wav "$WORK/seg.wav"
}

keys() { # keys PAUSE DIGITS   (RFC 4733 in the pcap; silence in the audio)
    silence "$1"
    DTMF+=(--dtmf "$T:$2")
    silence "$(python3 -c "print(0.16 * len('$2') + 0.1)")"
}

mix() { # mix NOISE_VOL -> $WORK/call.wav (G.711 round trip; brown noise if vol > 0)
    sox "$WORK"/parts/*.wav "$WORK/clean.wav"
    if [ "$1" != 0 ]; then
        sox -n -r 8000 -c 1 -b 16 "$WORK/noise.wav" synth "$(soxi -D "$WORK/clean.wav")" brownnoise vol "$1"
        sox -m "$WORK/clean.wav" "$WORK/noise.wav" "$WORK/mixed.wav"
    else
        cp "$WORK/clean.wav" "$WORK/mixed.wav"
    fi
    sox "$WORK/mixed.wav" -e u-law -t wav "$WORK/ulaw.wav"
    sox "$WORK/ulaw.wav" -e signed-integer -b 16 "$WORK/call.wav"
}

as_wav() { wanted "$1" || return 0; mix "$2"; cp "$WORK/call.wav" "$OUT/$1.wav"; echo "$OUT/$1.wav"; }

as_pcap() { # as_pcap NAME NOISE LOSS_PCT SEED
    wanted "$1" || return 0
    mix "$2"
    python3 scripts/wav2pcap.py "$WORK/mixed.wav" "$OUT/$1.pcap" --loss "$3" --jitter-ms 4 \
        --seed "$4" ${DTMF[@]+"${DTMF[@]}"}
    echo "$OUT/$1.pcap"
}

# ---- the calls ---------------------------------------------------------------------

# Happy path by voice: track a parcel, number, confirm, status, goodbye.
begin
say 4.5 en-us "I'd like to track my parcel."
say 5.0 en-us "one two three four five six seven eight"
say 6.0 en-us "yes"
say 12.5 en-us "no thanks, goodbye"
silence 4
as_wav track_happy 0

# Keypad only (RFC 4733 in a pcap, 2% loss): 1 = track, the number, 1 = yes.
begin
silence 1
keys 3.5 1
keys 5.0 87654321
keys 6.5 1
silence 14
as_pcap track_keypad 0.004 2 11

# A correction at the confirmation: "no, it's ..." (British voice, line noise).
begin
say 4.5 en-gb "where's my package"
say 5.0 en-gb "one two three four five six seven nine"
say 6.5 en-gb "no, it's one two three four five six seven eight"
say 6.5 en-gb "correct"
say 12.5 en-gb "that's all, goodbye"
silence 4
as_wav track_correction 0.01

# The caller says nothing: two reprompts, then an agent (open line, faint noise).
begin
silence 44
as_pcap no_input_agent 0.003 1 12

# Barge-in over the long opening-hours prompt, then a parcel number by voice.
begin
say 4.5 en-us+f3 "what are your opening hours?"
say 2.0 en-us+f3 "okay, and where is my parcel?"
say 4.5 en-us+f3 "two four six eight one three five seven"
say 6.0 en-us+f3 "yes"
silence 14
as_wav barge_in_hours 0

# An angry caller is handed to an agent (pcap, noise, 3% loss).
begin
say 4.5 en-gb "this is ridiculous, your service is absolutely useless"
silence 8
as_pcap angry_agent 0.01 3 13

# An explicit request for a human in the middle of a flow (Piper voice).
begin
say 4.5 piper "I want to change my delivery date."
say 5.0 piper "eight seven six five four three two one"
say 7.0 piper "I want to talk to a real person."
silence 8
as_wav agent_request 0

# Reschedule: number, a relative date, confirm, goodbye (en-us, pcap, 1% loss).
begin
say 4.5 en-us "I won't be home tomorrow, can you deliver it another day?"
say 5.0 en-us "eight seven six five four three two one"
say 6.5 en-us "next monday"
say 8.0 en-us "yes please"
say 7.5 en-us "no, that's all. goodbye"
silence 4
as_pcap reschedule 0 1 14

# Damage report: number, details, transfer to the claims team (pcap, noise, 2% loss).
begin
say 4.5 en-us "my parcel arrived damaged"
say 6.5 en-us "two four six eight one three five seven"
say 4.5 en-us "the box was crushed and the vase inside is broken"
silence 8
as_pcap damage_claims 0.01 2 15

# Opening hours, as a stereo call recording: caller left, the other side right.
begin
say 4.5 piper "what time do you open on saturday?"
say 10.5 piper "that's all, thanks"
silence 4
if wanted opening_hours_stereo; then
mix 0
cp "$WORK/call.wav" "$WORK/left.wav"
LEN=$(soxi -D "$WORK/left.wav")
espeak-ng -v en-gb -s 160 -w "$WORK/r.wav" "Welcome to Parcel Express. How can I help you? We are open Monday to Friday."
sox "$WORK/r.wav" -r 8000 -c 1 -b 16 "$WORK/right.wav" pad 0.3 0 vol 0.5
sox "$WORK/right.wav" "$WORK/right2.wav" pad 0 "$LEN" trim 0 "$LEN"
sox -M "$WORK/left.wav" "$WORK/right2.wav" "$OUT/opening_hours_stereo.wav"
echo "$OUT/opening_hours_stereo.wav"
fi

# The caller only wants to say goodbye (Piper voice, pcap).
begin
say 4.5 piper "Actually, never mind. Goodbye."
silence 6
as_pcap goodbye 0.003 0 16

# ---- Mandarin calls (dialled to kuaidi: the Mandarin demo flow) -------------------------
# The Mandarin prompts are longer than the English ones: the pauses are too.

# Track a parcel by voice: request, number, confirmation, status, goodbye.
begin
say 6.0 kokoro/zm_yunxi "我想查一下我的快递。"
say 6.5 kokoro/zm_yunxi "一二三四五六七八"
say 7.0 kokoro/zm_yunxi "是的。"
say 13.0 kokoro/zm_yunxi "没有了。"
silence 5
as_wav zh_track_happy 0

# Keypad only (RFC 4733, 2% loss): 1 = track, the number, 1 = yes.
begin
silence 1
keys 5.0 1
keys 6.0 87654321
keys 8.0 1
silence 12
as_pcap zh_track_keypad 0.004 2 21

# A correction at the confirmation, 不对是… said in one breath (line noise).
begin
say 6.0 kokoro/zm_yunjian "我的包裹到哪里了？"
say 6.5 kokoro/zm_yunjian "一二三四五六七九"
say 8.0 kokoro/zm_yunjian "不对是一二三四五六七八"
say 8.0 kokoro/zm_yunjian "是的。"
say 13.0 kokoro/zm_yunjian "没有了谢谢。"
silence 5
as_wav zh_track_correction 0.01

# Reschedule: number, a relative date, confirm, goodbye (pcap, 1% loss).
begin
say 6.0 kokoro/zm_yunyang "我想改一下送货时间。"
say 6.0 kokoro/zm_yunyang "八七六五四三二一"
say 7.0 kokoro/zm_yunyang "下周一"
say 10.0 kokoro/zm_yunyang "是的。"
say 9.0 kokoro/zm_yunyang "没有了。"
silence 5
as_pcap zh_reschedule 0 1 24

# Damage report: number, details, transfer to the claims team (pcap, noise, 2% loss).
begin
say 6.0 kokoro/zf_xiaoxiao "我的快递坏了。"
say 8.0 kokoro/zf_xiaoxiao "二四六八一三五七"
say 5.0 kokoro/zf_xiaoxiao "箱子压扁了里面的花瓶碎了。"
silence 10
as_pcap zh_damage_claims 0.01 2 25

# Opening hours, then nothing else.
begin
say 6.0 kokoro/zf_xiaoni "你们几点开门？"
say 16.0 kokoro/zf_xiaoni "没有了，谢谢。"
silence 5
as_wav zh_opening_hours 0

# A human, straight away.
begin
say 6.0 kokoro/zf_xiaoyi "我要找人工客服。"
silence 8
as_wav zh_agent_request 0

du -ch "$OUT"/*.wav "$OUT"/*.pcap | tail -1
