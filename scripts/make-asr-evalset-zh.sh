#!/usr/bin/env bash
# Generates the synthetic Mandarin part of the ASR evaluation set: IVR-typical utterances of
# the parcel hotline spoken by several Kokoro voices (through `ivr say --language zh`), put
# through a phone line (8 kHz, G.711 A-law or mu-law round trip), a third of them with added
# line noise. Output: fixtures/asr/evalset-zh/NN-VOICE[-noise].wav + manifest.tsv
# (file<TAB>reference, the same format as fixtures/asr/evalset; references are what the
# caller said, in Simplified characters; digits may be written either way: `ivr asr-eval`
# scores both sides after the same normalisation). tests/asr_eval.rs scores each voice.
# The real-speech part is not generated: `make models` fetches it (models/speech-zh).
#
# SAY_ZH overrides how one utterance is synthesized, a command template with {voice},
# {text} and {out} (16 kHz WAV), for when the TTS interface differs from the default below.
# Needs sox (scripts/setup-system.sh), the models (`make models`) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
ivr=${IVR:-target/release/ivr}
[ -x "$ivr" ] || { echo "make-asr-evalset-zh: $ivr not found: run \`make build\` first" >&2; exit 1; }
say_zh=${SAY_ZH:-"$ivr say --language zh --voice kokoro/{voice} --rate 16000 -o {out} {text}"}
out=fixtures/asr/evalset-zh
rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sentences=(
  "是的"
  "不是"
  "对的"
  "我想查一下我的快递"
  "我要改一下送货时间"
  "我的包裹坏了"
  "你们几点开门"
  "转人工"
  "我的单号是四七二九一八"
  "手机号是一三八零零一三八零零零"
  "明天下午送过来可以吗"
  "下周三上午"
  "再说一遍"
  "说慢一点"
  "没有了，谢谢"
  "不对，是十二月二十号"
  "包裹到哪里了"
  "快递员把箱子摔坏了"
  "我要投诉"
  "好的，再见"
)
voices=(${ZH_VOICES:-zf_xiaobei zf_xiaoni zm_yunjian zm_yunxi})
: > "$out/manifest.tsv"
n=0
for voice in "${voices[@]}"; do
  for i in "${!sentences[@]}"; do
    text=${sentences[$i]}
    name=$(printf "%02d-%s" "$n" "$voice")
    cmd=${say_zh//\{voice\}/$voice}
    cmd=${cmd//\{out\}/$tmp/raw.wav}
    cmd=${cmd//\{text\}/\"$text\"}
    eval "$cmd" > /dev/null
    # 0.3 s of silence around the speech, as the endpointer leaves it.
    sox "$tmp/raw.wav" -r 8000 -c 1 -b 16 "$tmp/8k.wav" pad 0.3 0.3 norm -3
    codec=a-law; [ $((n % 2)) -eq 1 ] && codec=u-law
    if [ $((n % 3)) -eq 2 ]; then
      # Line noise about 20 dB under the speech.
      sox -R -n -r 8000 -c 1 -b 16 "$tmp/noise.wav" synth "$(soxi -D "$tmp/8k.wav")" pinknoise vol 0.05
      sox -m "$tmp/8k.wav" "$tmp/noise.wav" "$tmp/mix.wav"
      mv "$tmp/mix.wav" "$tmp/8k.wav"
      name="$name-noise"
    fi
    sox "$tmp/8k.wav" -e "$codec" -b 8 "$tmp/g711.wav"
    sox "$tmp/g711.wav" -e signed-integer -b 16 "$out/$name.wav"
    printf "%s\t%s\n" "$name.wav" "$text" >> "$out/manifest.tsv"
    n=$((n + 1))
  done
done
echo "wrote $n utterances and $out/manifest.tsv"
