#!/usr/bin/env bash
# The in-process engine's benchmark: generates Qwen2.5-0.5B-shaped models (random weights, real
# shapes and vocabulary size) in F16, Q8_0 and Q4_0, runs `infergate-engine bench` on each (2
# threads, prompt 128, generate 64, concurrency 1,4,8), measures the machine's read bandwidth,
# and writes the `## Engine` section of docs/BENCHMARKS.md (the rest of the file is kept).
#
#   tests/bench/engine_bench.sh BUILD_DIR [--types "F16 Q8_0 Q4_0"] [--threads 2] [--no-write]
#
# BUILD_DIR is a build tree (or any folder) holding infergate-engine and infergate-make-model.
# Runtime: about a minute per type on a 2-core machine.
set -euo pipefail

usage() { echo "usage: $0 BUILD_DIR [--types \"F16 Q8_0 Q4_0\"] [--threads N] [--no-write]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
BIN_DIR=$1; shift
TYPES="F16 Q8_0 Q4_0"
THREADS=2
WRITE=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --types) TYPES=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --no-write) WRITE=0; shift ;;
    *) usage ;;
  esac
done

find_bin() {
  local p
  p=$(find "$BIN_DIR" -name "$1" -type f -perm -u+x 2>/dev/null | head -n 1)
  [[ -n $p ]] || { echo "error: $1 not found under $BIN_DIR (build it first)" >&2; exit 1; }
  echo "$p"
}
ENGINE=$(find_bin infergate-engine)
MAKE_MODEL=$(find_bin infergate-make-model)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DOC=$ROOT/docs/BENCHMARKS.md

TMP=$(mktemp -d "${TMPDIR:-/tmp}/infergate-engine-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# llama.cpp on this machine, 2 threads, same shapes (prefill, decode tok/s).
declare -A LLAMA_PREFILL=([F16]=320 [Q8_0]=222 [Q4_0]=434)
declare -A LLAMA_DECODE=([F16]=40 [Q8_0]=52 [Q4_0]=84)

value() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

echo "measuring read bandwidth ($THREADS threads)..." >&2
"$ENGINE" membw --threads "$THREADS" --mib 1024 > "$TMP/membw.txt"
BW=$(value read_bandwidth_gb_s "$TMP/membw.txt")
echo "  $BW GB/s" >&2

ROWS=""
for T in $TYPES; do
  echo "== $T: generating the model..." >&2
  "$MAKE_MODEL" --preset qwen2.5-0.5b --type "$T" --out "$TMP/model-$T.gguf" >&2
  echo "== $T: bench..." >&2
  "$ENGINE" bench --model "$TMP/model-$T.gguf" --threads "$THREADS" --prompt 128 --gen 64 \
    --concurrency 1,4,8 | tee "$TMP/bench-$T.txt" >&2
  rm -f "$TMP/model-$T.gguf"
  f=$TMP/bench-$T.txt
  PRE=$(value prefill_tok_s "$f"); DEC=$(value decode_tok_s "$f")
  C4=$(value aggregate_decode_tok_s_c4 "$f"); C8=$(value aggregate_decode_tok_s_c8 "$f")
  RSS=$(value peak_rss_mib "$f"); BYTES=$(value bytes_per_token "$f")
  ROWS+=$(awk -v t="$T" -v pre="$PRE" -v dec="$DEC" -v c4="${C4:-0}" -v c8="${C8:-0}" -v rss="$RSS" \
    -v bytes="$BYTES" -v bw="$BW" -v lp="${LLAMA_PREFILL[$T]:-0}" -v ld="${LLAMA_DECODE[$T]:-0}" 'BEGIN {
      mb = bytes / 1e6; bound = bw * 1e9 / bytes;
      rp = lp > 0 ? sprintf("%.2f", pre / lp) : "-"; rd = ld > 0 ? sprintf("%.2f", dec / ld) : "-";
      printf "| %s | %.0f | %.1f | %.0f (%.1fx) | %.0f (%.1fx) | %.0f | %.0f | %.0f | %s / %s | %s / %s |\n",
        t, pre, dec, c4, c4 / dec, c8, c8 / dec, rss, mb, bound, lp, ld, rp, rd }')$'\n'
done

CPU=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
SECTION=$(cat <<EOF
## Engine

The in-process engine (\`local-backend/\`) on a Qwen2.5-0.5B-shaped model (hidden 896, 24 layers,
14 heads / 2 KV heads, FFN 4864, vocabulary 151936, tied embeddings; random weights), $THREADS
threads, prompt 128 tokens, 64 generated, greedy. Machine: $CPU, $(nproc) cores visible,
measured read bandwidth $BW GB/s with $THREADS threads. Date: $(date -u +%Y-%m-%d).

| type | prefill tok/s | decode tok/s | aggregate decode, 4 seqs | aggregate decode, 8 seqs | peak RSS MiB | MB read / token | bandwidth bound tok/s | llama.cpp prefill / decode | ratio prefill / decode |
|---|---|---|---|---|---|---|---|---|---|
${ROWS}
- *decode* is one sequence; *aggregate* is the tokens per second of all sequences together while
  all of them generate (in brackets: times the single-sequence rate).
- *MB read / token* is every weight matrix plus one embedding row: what one decode step must
  stream from memory; *bandwidth bound* = measured bandwidth / that, the ceiling for one sequence.
- llama.cpp figures: llama.cpp on the same machine, 2 threads, the same shapes.
- Reproduce: \`cmake --build build --target infergate-engine infergate-make-model && tests/bench/engine_bench.sh build\`
EOF
)

if [[ $WRITE -eq 1 ]]; then
  mkdir -p "$(dirname "$DOC")"
  [[ -f $DOC ]] || printf '# Benchmarks\n' > "$DOC"
  # Replace the existing "## Engine" section (up to the next "## " heading) or append one.
  printf '%s\n' "$SECTION" > "$TMP/section.md"
  awk -v secfile="$TMP/section.md" '
    function emit() { while ((getline line < secfile) > 0) print line; done = 1 }
    /^## Engine[[:space:]]*$/ { skipping = 1; if (!done) { emit(); print "" } ; next }
    skipping && /^## / { skipping = 0 }
    !skipping { print }
    END { if (!done) { print ""; emit() } }
  ' "$DOC" > "$TMP/doc.md"
  cp "$TMP/doc.md" "$DOC"
  echo "wrote the Engine section of $DOC" >&2
fi
printf '%s\n' "$SECTION"
