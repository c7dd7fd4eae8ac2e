#!/usr/bin/env bash
# Client conformance: the official SDKs (node --test, *.test.mjs here) against a real infergate in
# front of infergate-mock-openai, both on ephemeral loopback ports.
#
#   tests/conformance/run.sh BIN_DIR [extra node --test arguments]
#
# BIN_DIR holds the built `infergate`, `infergate-mock-openai` and `infergate-mock-anthropic` (e.g. build/gateway and
# build/tests/mock, or an install prefix's bin/ — both are searched for under BIN_DIR).
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 BIN_DIR [node --test arguments]" >&2
  exit 2
fi
BIN_DIR=$(cd "$1" && pwd)
shift
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

find_bin() {
  local name=$1 path
  for path in "$BIN_DIR/$name" "$BIN_DIR/bin/$name" "$BIN_DIR/gateway/$name" "$BIN_DIR/tests/mock/$name"; do
    if [[ -x $path ]]; then
      echo "$path"
      return
    fi
  done
  echo "run.sh: $name not found under $BIN_DIR (build it first)" >&2
  exit 2
}
GATEWAY_BIN=$(find_bin infergate)
MOCK_BIN=$(find_bin infergate-mock-openai)
ANTHROPIC_MOCK_BIN=$(find_bin infergate-mock-anthropic)
for tool in node npm sha256sum base64; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/infergate-conformance.XXXXXX")
MOCK_PID=""
ANTHROPIC_MOCK_PID=""
GATEWAY_PID=""

stop_process() {
  local pid=$1
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  stop_process "$GATEWAY_PID"
  stop_process "$MOCK_PID"
  stop_process "$ANTHROPIC_MOCK_PID"
  if [[ $rc -ne 0 ]]; then
    for log in gateway mock mock-anthropic; do
      if [[ -s $WORK/$log.log ]]; then
        echo "--- last lines of the $log log ---" >&2
        tail -n 20 "$WORK/$log.log" >&2
      fi
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits (bounded) for a process to write its port file; fails if the process dies first.
wait_port_file() {
  local file=$1 pid=$2 name=$3
  for _ in $(seq 100); do
    if [[ -s $file ]]; then
      cat "$file"
      return
    fi
    kill -0 "$pid" 2>/dev/null || { echo "run.sh: $name exited during start-up" >&2; exit 1; }
    sleep 0.1
  done
  echo "run.sh: $name did not report its port within 10 s" >&2
  exit 1
}

# A loopback port with nothing listening on it: the "down" deployment.
free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
    console.log(s.address().port); s.close(); });'
}

http_ok() {
  node -e 'fetch(process.argv[1]).then((r) => process.exit(r.status === 200 ? 0 : 1),
                                       () => process.exit(1));' "$1"
}

echo "== npm dependencies" >&2
(
  cd "$HERE"
  # node_modules/.package-lock.json is npm's record of the last install: skip when it is current.
  if [[ -f node_modules/.package-lock.json && node_modules/.package-lock.json -nt package.json ]]; then
    echo "up to date"
  elif [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
) >&2

echo "== starting infergate-mock-openai" >&2
"$MOCK_BIN" --host 127.0.0.1 --port 0 --port-file "$WORK/mock.port" >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!
MOCK_PORT=$(wait_port_file "$WORK/mock.port" "$MOCK_PID" infergate-mock-openai)
echo "== starting infergate-mock-anthropic" >&2
"$ANTHROPIC_MOCK_BIN" --host 127.0.0.1 --port 0 --port-file "$WORK/anthropic.port" \
  >"$WORK/mock-anthropic.log" 2>&1 &
ANTHROPIC_MOCK_PID=$!
ANTHROPIC_MOCK_PORT=$(wait_port_file "$WORK/anthropic.port" "$ANTHROPIC_MOCK_PID" \
  infergate-mock-anthropic)
DEAD_PORT=$(free_port)

# The gateway key: the same shape as `infergate keys new` ("ig-" + 43 base64url characters).
GATEWAY_KEY="ig-$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')"
GATEWAY_KEY_SHA256=$(printf '%s' "$GATEWAY_KEY" | sha256sum | cut -d' ' -f1)
# The Hugging Face client sends its token to the router and the Hub only when it starts "hf_".
HF_KEY="hf_$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')"
HF_KEY_SHA256=$(printf '%s' "$HF_KEY" | sha256sum | cut -d' ' -f1)
# The provider's secret reaches the config only through ${ENV}, as in production.
export UPSTREAM_KEY="sk-mock-upstream-$RANDOM$RANDOM"

cat >"$WORK/gateway.yaml" <<EOF
server:
  host: 127.0.0.1
  port: 0
  port_file: $WORK/gateway.port
  io_threads: 2
  access_log: "$WORK/access.log"
  timeouts: { shutdown_grace: 2s }
providers:
  - name: mock
    type: openai
    base_url: http://127.0.0.1:$MOCK_PORT/v1
    api_key: \${UPSTREAM_KEY}
    headers: { X-Conformance: "1" }
  # Anthropic's wire format behind both client dialects (cross-dialect tests).
  - name: claude
    type: anthropic
    base_url: http://127.0.0.1:$ANTHROPIC_MOCK_PORT/v1
    api_key: \${UPSTREAM_KEY}
  # Hugging Face provider names (hf_inference.test.mjs), all in front of the OpenAI mock.
  - { name: together, type: openai, base_url: "http://127.0.0.1:$MOCK_PORT/v1", api_key: "\${UPSTREAM_KEY}" }
  - { name: hf-inference, type: openai, base_url: "http://127.0.0.1:$MOCK_PORT/v1", api_key: "\${UPSTREAM_KEY}" }
  - { name: fal-ai, type: openai, base_url: "http://127.0.0.1:$MOCK_PORT/v1", api_key: "\${UPSTREAM_KEY}" }
  - { name: replicate, type: openai, base_url: "http://127.0.0.1:$MOCK_PORT/v1", api_key: "\${UPSTREAM_KEY}" }
  - name: down
    type: openai
    base_url: http://127.0.0.1:$DEAD_PORT/v1
    api_key: \${UPSTREAM_KEY}
    timeouts: { connect: 1s }
models:
  - name: demo-chat
    owned_by: infergate
    deployments:
      - { provider: mock, model: mock-chat }
  - name: demo-tools
    owned_by: infergate
    deployments:
      - { provider: mock, model: "mock-tools?tool_call=1" }
  - name: demo-fallback
    owned_by: infergate
    deployments:
      - { provider: down, model: mock-chat }
      - { provider: mock, model: mock-fallback }
  - name: demo-claude
    owned_by: infergate
    deployments:
      - { provider: claude, model: mock-claude }
  - name: demo-claude-tools
    owned_by: infergate
    deployments:
      - { provider: claude, model: "mock-claude?tool_call=1" }
  - name: demo-hidden
    owned_by: infergate
    deployments:
      - { provider: mock, model: mock-hidden }
  # OpenAI's non-chat routes (openai_ops.test.mjs).
  - { name: demo-embed, owned_by: infergate, deployments: [ { provider: down, model: x }, { provider: mock, model: mock-embed } ] }
  - { name: demo-image, owned_by: infergate, deployments: [ { provider: mock, model: mock-image } ] }
  - { name: demo-instruct, owned_by: infergate, deployments: [ { provider: mock, model: mock-instruct } ] }
  - name: meta-llama/Llama-3.1-8B-Instruct
    deployments:
      - { provider: together, model: together-llama }
      - { provider: mock, model: mock-llama }
  - name: BAAI/bge-small-en-v1.5
    deployments: [ { provider: hf-inference, model: mock-embed } ]
  - name: black-forest-labs/FLUX.1-schnell
    deployments:
      - { provider: fal-ai, model: fal-ai/flux/schnell }
      - { provider: replicate, model: black-forest-labs/flux-schnell }
      - { provider: hf-inference, model: mock-flux }
keys:
  - id: conformance-hf
    sha256: $HF_KEY_SHA256
    models: [meta-llama/Llama-3.1-8B-Instruct, BAAI/bge-small-en-v1.5, black-forest-labs/FLUX.1-schnell]
  - id: conformance
    sha256: $GATEWAY_KEY_SHA256
    models: [demo-chat, demo-tools, demo-fallback, demo-claude, demo-claude-tools, demo-embed, demo-image, demo-instruct]
routing:
  max_attempts: 3
EOF

echo "== starting infergate" >&2
"$GATEWAY_BIN" --config "$WORK/gateway.yaml" >"$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
GATEWAY_PORT=$(wait_port_file "$WORK/gateway.port" "$GATEWAY_PID" infergate)
ready=0
for _ in $(seq 100); do
  if http_ok "http://127.0.0.1:$GATEWAY_PORT/readyz"; then
    ready=1
    break
  fi
  kill -0 "$GATEWAY_PID" 2>/dev/null || { echo "run.sh: infergate exited" >&2; exit 1; }
  sleep 0.1
done
[[ $ready -eq 1 ]] || { echo "run.sh: /readyz did not answer 200 within 10 s" >&2; exit 1; }

echo "== node --test (gateway :$GATEWAY_PORT, mock :$MOCK_PORT)" >&2
cd "$HERE"
GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT/v1" GATEWAY_KEY="$GATEWAY_KEY" HF_KEY="$HF_KEY" \
  MOCK_URL="http://127.0.0.1:$MOCK_PORT" node --test --test-reporter=spec "$@"
