#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit and integration tests (CTest, real
# binaries on loopback), bounded fuzz runs, config examples, and the official SDK conformance tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build=${BUILD_DIR:-build}

echo "== config examples"
for f in config/examples/*.yaml; do
  # Every ${VAR} an example names gets a dummy value, as an operator's environment would.
  vars=$(grep -o '\${[A-Za-z_][A-Za-z0-9_]*}' "$f" | tr -d '${}' | sort -u || true)
  env $(for v in $vars; do printf '%s=dummy ' "$v"; done) "$build/bin/infergate" --check-config "$f"
done

echo "== unit, integration and fuzz tests"
ctest --test-dir "$build" --output-on-failure -j2 --timeout 600

echo "== client conformance (official SDKs)"
tests/conformance/run.sh "$build/bin"
