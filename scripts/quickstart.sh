#!/usr/bin/env bash
# Installs what is missing, builds, and starts the gateway on config/examples/quickstart.yaml with
# the bundled mock provider behind it. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
bin=${BUILD_DIR:-build}/bin

"$bin/infergate-mock-openai" --host 127.0.0.1 --port 9100 --threads 1 &
mock=$!
trap 'kill $mock 2>/dev/null || true' EXIT
cat <<MSG
infergate: starting on http://127.0.0.1:8080 with the mock provider on 127.0.0.1:9100. Try:
  curl -s localhost:8080/v1/chat/completions -H "Authorization: Bearer ig-demo-key-change-me" \\
       -d '{"model":"demo-chat","messages":[{"role":"user","content":"Hello"}]}'
MSG
"$bin/infergate" --config config/examples/quickstart.yaml
