#!/usr/bin/env bash
# Installs the Debian packages ivr needs to build and to test against real SIP peers.
# Idempotent: asks apt only for what is missing, and runs `apt-get update` at most once.
set -euo pipefail

BUILD_PKGS=(cmake clang libclang-dev pkg-config libespeak-ng-dev espeak-ng-data python3-pip)
TEST_PKGS=(sip-tester baresip tshark sox espeak-ng linphone-cli fonts-dejavu-core chromium)

missing=()
for p in "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"; do
  # python3-pip only matters when the machine has no pip at all (pyenv images ship their own).
  if [ "$p" = python3-pip ] && command -v pip3 >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-system: all Debian packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "setup-system: missing packages: ${missing[*]}" >&2
  echo "setup-system: not root and no sudo; install them with: apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "setup-system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# wireshark-common asks whether non-root users may capture; answer without a TTY.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-system: done"
