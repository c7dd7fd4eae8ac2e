#!/usr/bin/env bash
# Installs the Debian packages infergate needs to build, test and benchmark. Idempotent: packages
# already present are skipped, and nothing is downloaded when everything is there.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates openssl
  libboost1.81-dev libssl-dev libyaml-cpp-dev nlohmann-json3-dev libsimdjson-dev libpcre2-dev
  libgtest-dev libgmock-dev
  nginx-light wrk curl procps
  python3-jinja2
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from elsewhere than Debian (its own npm bundled): only the commands matter.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
