#!/usr/bin/env bash
# Generates the synthetic part of the ASR evaluation set: IVR-typical utterances spoken by
# two different synthetic voices (espeak-ng en-us, and the Piper voice the bot itself uses,
# through `ivr say`), put through a phone line (8 kHz, G.711 A-law or mu-law round trip),
# a third of them with added line noise. Output: fixtures/asr/evalset/*.wav + manifest.tsv
# (path<TAB>reference). The real-speech part is not generated: `make models` fetches it
# (models/speech/manifest.tsv, see models.toml).
#
# espeak-ng and sox's seeded noise are deterministic; Piper is not (its VITS model samples
# noise), so the committed files are the reference and regenerating changes the Piper half.
# Needs espeak-ng and sox (scripts/setup-system.sh), the models (`make models`) and a
# release build (`make build`; IVR overrides the binary).
set -euo pipefail
cd "$(dirname "$0")/.."
ivr=${IVR:-target/release/ivr}
[ -x "$ivr" ] || { echo "make-asr-evalset: $ivr not found: run \`make build\` first" >&2; exit 1; }
out=fixtures/asr/evalset
rm -rf "$out"
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
  "where is my parcel"
  "can you deliver it next Monday"
  "the package arrived damaged"
  "3 0 9 1 7 7 5 4"
  "what are your opening hours"
)
voices=("espeak" "piper")
: > "$out/manifest.tsv"
n=0
for voice in "${voices[@]}"; do
  for i in "${!sentences[@]}"; do
    text=${sentences[$i]}
    name=$(printf "%02d-%s" "$n" "$voice")
    case $voice in
      espeak) espeak-ng -v en-us -s 165 -w "$tmp/raw.wav" "$text" ;;
      piper) "$ivr" say "$text" --rate 16000 -o "$tmp/raw.wav" > /dev/null ;;
    esac
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
