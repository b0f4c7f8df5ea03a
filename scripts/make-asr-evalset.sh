#!/usr/bin/env bash
# Generates the ASR evaluation set: IVR-typical utterances spoken by two espeak-ng voices,
# through a phone line (8 kHz, G.711 A-law or mu-law round trip), a third of them with
# added noise. Output: fixtures/asr/evalset/*.wav + manifest.tsv (path<TAB>reference).
# Deterministic (espeak-ng and sox's noise with a fixed seed), so the committed files can
# be regenerated. Needs espeak-ng and sox (scripts/setup-system.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."
out=fixtures/asr/evalset
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sentences=(
  "yes"
  "no thank you"
  "yes please"
  "that's correct"
  "I want to speak to an agent"
  "I'd like to check my order status"
  "my tracking number is 4 7 2 9 1 8"
  "my account number is 5 5 0 1 3 2 7"
  "cancel my appointment"
  "I need to pay my bill"
  "the date is March fifteenth"
  "representative"
  "I want to change my delivery address"
  "my phone number is 6 1 7 5 5 5 0 1 2 3"
  "no that's wrong"
)
voices=("en-us" "en+f3")
: > "$out/manifest.tsv"
n=0
for v in "${!voices[@]}"; do
  voice=${voices[$v]}
  for i in "${!sentences[@]}"; do
    text=${sentences[$i]}
    name=$(printf "%02d-%s" "$n" "${voice//+/_}")
    espeak-ng -v "$voice" -s 165 -w "$tmp/raw.wav" "$text"
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
