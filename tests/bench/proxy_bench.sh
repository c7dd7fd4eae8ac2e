#!/usr/bin/env bash
# The gateway's proxy overhead, measured against the mock upstream directly and against nginx as
# a reverse proxy in front of the same mock, all on 127.0.0.1 ephemeral ports:
#   a. throughput (non-streaming, 32 connections), direct / nginx / gateway, rounds interleaved
#   b. added latency at concurrency 1 (latency_probe), rounds interleaved
#   c. 7,500 requests in flight (mock latency 1.5 s): all succeed? gateway RSS idle and at peak
#   d. streaming: added time to first token and added gap between relayed events (stream_probe)
#   e. growth: gateway RSS after a warm-up vs after 200,000 requests (1,000,000 with --long)
# Prints the results and writes them as the gateway section of docs/BENCHMARKS.md.
#
#   tests/bench/proxy_bench.sh BIN_DIR [--long] [--no-write] [--quick]
#
# --quick runs every step briefly to check the script itself; it never writes the document.
#
# BIN_DIR is a build directory (or an install prefix's bin/) holding infergate,
# infergate-mock-openai, latency_probe, stream_probe and load_probe. Needs wrk and nginx
# (Debian: wrk, nginx-light). Thread counts: MOCK_THREADS (default 1), IO_THREADS (the gateway's
# io_threads and nginx's worker_processes, default 1), WRK_THREADS (default 1).
set -euo pipefail

usage() {
  echo "usage: $0 BIN_DIR [--long] [--no-write] [--quick]" >&2
  exit 2
}
[[ $# -ge 1 ]] || usage
BIN_DIR=$(cd "$1" && pwd)
shift
LONG=0
WRITE=1
QUICK=0
for arg in "$@"; do
  case $arg in
    --long) LONG=1 ;;
    --no-write) WRITE=0 ;;
    --quick) QUICK=1 WRITE=0 ;;
    *) usage ;;
  esac
done
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MOCK_THREADS=${MOCK_THREADS:-1}
IO_THREADS=${IO_THREADS:-1}
BUSY_POLL_US=${BUSY_POLL_US:-200}
WRK_THREADS=${WRK_THREADS:-1}
# Sizes of the steps (--quick shrinks them).
A_SECONDS=10 LAT_REQUESTS=2000 LAT_ROUNDS=5 C_CONNECTIONS=7500 C_SECONDS=10 STREAMS=30
WARM_REQUESTS=20000 GROWTH_REQUESTS=200000
if [[ $LONG -eq 1 ]]; then GROWTH_REQUESTS=1000000; fi
if [[ $QUICK -eq 1 ]]; then
  A_SECONDS=1 LAT_REQUESTS=200 LAT_ROUNDS=2 C_CONNECTIONS=500 C_SECONDS=2 STREAMS=3
  WARM_REQUESTS=1000 GROWTH_REQUESTS=5000
fi

find_bin() {
  local name=$1 dir
  for dir in "$BIN_DIR" "$BIN_DIR/bin" "$BIN_DIR/gateway" "$BIN_DIR/tests/mock" "$BIN_DIR/tests/bench"; do
    if [[ -x $dir/$name ]]; then
      echo "$dir/$name"
      return
    fi
  done
  echo "proxy_bench: $name not found under $BIN_DIR (build it first)" >&2
  exit 2
}
GATEWAY_BIN=$(find_bin infergate)
MOCK_BIN=$(find_bin infergate-mock-openai)
LATENCY_PROBE=$(find_bin latency_probe)
STREAM_PROBE=$(find_bin stream_probe)
TRANSLATE_BENCH=$(find_bin translate_bench)
LOAD_PROBE=$(find_bin load_probe)
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
for tool in wrk "$NGINX_BIN" sha256sum base64; do
  command -v "$tool" >/dev/null || { echo "proxy_bench: $tool is required" >&2; exit 2; }
done

# 7,500 client connections plus as many upstream ones: every process needs the hard limit.
ulimit -n "$(ulimit -Hn)"
if [[ $(ulimit -n) -lt 16000 ]]; then
  echo "proxy_bench: the descriptor limit ($(ulimit -n)) is below 16000; raise the hard limit" >&2
  exit 2
fi

LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/infergate-bench.XXXXXX")
PIDS=()
cleanup() {
  local rc=$? pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 ]]; then
    for log in "$WORK"/*.log; do
      [[ -s $log ]] || continue
      echo "--- last lines of $(basename "$log") ---" >&2
      tail -n 15 "$log" >&2
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

wait_port_file() {
  local file=$1 pid=$2 name=$3
  for _ in $(seq 100); do
    if [[ -s $file ]]; then
      cat "$file"
      return
    fi
    kill -0 "$pid" 2>/dev/null || { echo "proxy_bench: $name exited during start-up" >&2; exit 1; }
    sleep 0.1
  done
  echo "proxy_bench: $name did not report its port within 10 s" >&2
  exit 1
}

# GET over bash's /dev/tcp; true when the status is 200.
http_ok() {
  local port=$1 path=$2 line=""
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
  IFS= read -r -t 2 line <&3 || true
  exec 3<&-
  [[ $line == *" 200 "* ]]
}

wait_http_ok() {
  local port=$1 path=$2 pid=$3 name=$4
  for _ in $(seq 100); do
    if http_ok "$port" "$path" 2>/dev/null; then return; fi
    kill -0 "$pid" 2>/dev/null || { echo "proxy_bench: $name exited" >&2; exit 1; }
    sleep 0.1
  done
  echo "proxy_bench: $name did not answer 200 on $path within 10 s" >&2
  exit 1
}

rss_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
median3() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<"$2" | head -n 1; }

# ---------------------------------------------------------------------------------------------
log "starting infergate-mock-openai (threads=$MOCK_THREADS)"
"$MOCK_BIN" --host 127.0.0.1 --port 0 --port-file "$WORK/mock.port" --threads "$MOCK_THREADS" \
  >"$WORK/mock.log" 2>&1 &
PIDS+=($!)
MOCK_PORT=$(wait_port_file "$WORK/mock.port" "${PIDS[-1]}" infergate-mock-openai)

KEY="ig-$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')"
KEY_SHA256=$(printf '%s' "$KEY" | sha256sum | cut -d' ' -f1)
export BENCH_UPSTREAM_KEY="sk-bench-upstream"
# Upstream ids choose the mock's behaviour; direct runs use the same ids.
STREAM_MODEL="bench-stream?tokens=50&token_delay_ms=2"
SLOW_MODEL="bench-slow?latency_ms=1500"
cat >"$WORK/gateway.yaml" <<EOF
server:
  host: 127.0.0.1
  port: 0
  port_file: $WORK/gateway.port
  io_threads: $IO_THREADS
  access_log: ""
  limits: { max_connections: 20000 }
  timeouts: { shutdown_grace: 2s }
providers:
  - name: mock
    type: openai
    base_url: http://127.0.0.1:$MOCK_PORT/v1
    api_key: \${BENCH_UPSTREAM_KEY}
    max_connections: 10000
models:
  - name: bench
    deployments: [{ provider: mock, model: bench }]
  - name: bench-stream
    deployments: [{ provider: mock, model: "$STREAM_MODEL" }]
  - name: bench-slow
    deployments: [{ provider: mock, model: "$SLOW_MODEL" }]
keys:
  - id: bench
    sha256: $KEY_SHA256
routing:
  max_attempts: 1
EOF
log "starting infergate (io_threads=$IO_THREADS)"
"$GATEWAY_BIN" --config "$WORK/gateway.yaml" >"$WORK/gateway.log" 2>&1 &
PIDS+=($!)
GATEWAY_PID=${PIDS[-1]}
GATEWAY_PORT=$(wait_port_file "$WORK/gateway.port" "$GATEWAY_PID" infergate)
wait_http_ok "$GATEWAY_PORT" /readyz "$GATEWAY_PID" infergate

log "starting nginx (worker_processes=$IO_THREADS)"
mkdir -p "$WORK/nginx/logs"
NGINX_USER=""
[[ $EUID -eq 0 ]] && NGINX_USER="user root;"
NGINX_PORT=""
for _ in $(seq 10); do
  port=$((20000 + RANDOM % 20000))
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue  # taken
  cat >"$WORK/nginx/nginx.conf" <<EOF
$NGINX_USER
worker_processes $IO_THREADS;
worker_rlimit_nofile 40000;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/client_body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  upstream mock {
    server 127.0.0.1:$MOCK_PORT;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$port;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
  "$NGINX_BIN" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log" \
    >"$WORK/nginx.log" 2>&1 &
  pid=$!
  for _ in $(seq 30); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    PIDS+=("$pid")
    NGINX_PORT=$port
    break
  fi
  wait "$pid" 2>/dev/null || true
done
[[ -n $NGINX_PORT ]] || { echo "proxy_bench: nginx did not start" >&2; cat "$WORK/nginx.log" >&2; exit 1; }

# The same request bytes for every variant (the mock ignores the Authorization header).
cat >"$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"model":"bench","messages":[{"role":"user","content":"How fast is this gateway?"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
EOF
declare -A URL=(
  [direct]="http://127.0.0.1:$MOCK_PORT/v1/chat/completions"
  [nginx]="http://127.0.0.1:$NGINX_PORT/v1/chat/completions"
  [gateway]="http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions"
)
for v in direct nginx gateway; do
  wrk -t1 -c4 -d1s -s "$WORK/post.lua" "${URL[$v]}" >"$WORK/warm-$v.txt"
  grep -q "Non-2xx" "$WORK/warm-$v.txt" && { echo "proxy_bench: $v answers non-2xx" >&2; exit 1; }
done

# ---------------------------------------------------------------------------------------------
log "a. throughput: wrk -t$WRK_THREADS -c32 -d${A_SECONDS}s, 3 rounds of direct / nginx / gateway"
declare -A RPS
ERRORS_A=0
for round in 1 2 3; do
  for v in direct nginx gateway; do
    out=$(wrk -t"$WRK_THREADS" -c32 -d"$A_SECONDS"s -s "$WORK/post.lua" "${URL[$v]}")
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
    if grep -qE "Non-2xx|Socket errors" <<<"$out"; then
      ERRORS_A=1
      grep -E "Non-2xx|Socket errors" <<<"$out" | sed "s/^/  $v: /" >&2
    fi
    RPS[$v,$round]=$rps
    log "   round $round $v: $rps req/s"
  done
done
for v in direct nginx gateway; do
  RPS[$v,median]=$(median3 "${RPS[$v,1]}" "${RPS[$v,2]}" "${RPS[$v,3]}")
done
RATIO=$(awk -v g="${RPS[gateway,median]}" -v n="${RPS[nginx,median]}" 'BEGIN { printf "%.2f", g / n }')

# ---------------------------------------------------------------------------------------------
log "b. added latency at concurrency 1 (latency_probe, $LAT_ROUNDS interleaved rounds of $LAT_REQUESTS)"
LAT_OUT=$("$LATENCY_PROBE" --requests "$LAT_REQUESTS" --rounds "$LAT_ROUNDS" --warmup 500 \
  "direct=127.0.0.1:$MOCK_PORT:bench" "gateway=127.0.0.1:$GATEWAY_PORT:bench:$KEY" \
  "nginx=127.0.0.1:$NGINX_PORT:bench")
echo "$LAT_OUT" | grep -vE "^(RESULT|DIFF)" >&2
LAT_DIRECT=$(grep "^RESULT direct " <<<"$LAT_OUT")
LAT_GATEWAY=$(grep "^RESULT gateway " <<<"$LAT_OUT")
LAT_NGINX=$(grep "^RESULT nginx " <<<"$LAT_OUT")
LAT_DIFF=$(grep "^DIFF gateway-direct " <<<"$LAT_OUT")
LAT_DIFF_NGINX=$(grep "^DIFF nginx-direct " <<<"$LAT_OUT")

# ---------------------------------------------------------------------------------------------
log "c. $C_CONNECTIONS requests in flight through the gateway (mock latency 1,500 ms, ${C_SECONDS} s)"
IDLE_RSS=$(rss_kib "$GATEWAY_PID" VmRSS)
set +e
LOAD_OUT=$("$LOAD_PROBE" --connections "$C_CONNECTIONS" --duration "$C_SECONDS" --ramp-ms 1000 --timeout-s 10 \
  --watch-pid "$GATEWAY_PID" "gateway=127.0.0.1:$GATEWAY_PORT:bench-slow:$KEY")
LOAD_RC=$?
set -e
echo "$LOAD_OUT" >&2
HWM_RSS=$(rss_kib "$GATEWAY_PID" VmHWM)
PEAK_RSS=$(field peak_rss_kib "$LOAD_OUT")
kill -0 "$GATEWAY_PID" || { echo "proxy_bench: the gateway died under load" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# A second gateway with the same configuration plus server.busy_poll_us: its I/O thread polls
# for that long after its last event instead of sleeping at once (see config/examples/full.yaml).
log "starting a second infergate with busy_poll_us: $BUSY_POLL_US"
sed "s|port_file: .*|port_file: $WORK/gateway-bp.port\n  busy_poll_us: $BUSY_POLL_US|" \
  "$WORK/gateway.yaml" >"$WORK/gateway-bp.yaml"
"$GATEWAY_BIN" --config "$WORK/gateway-bp.yaml" >"$WORK/gateway-bp.log" 2>&1 &
PIDS+=($!)
GATEWAY_BP_PORT=$(wait_port_file "$WORK/gateway-bp.port" "${PIDS[-1]}" infergate)
wait_http_ok "$GATEWAY_BP_PORT" /readyz "${PIDS[-1]}" infergate

log "d. streaming: 50 tokens 2 ms apart (stream_probe, 3 interleaved rounds of $STREAMS streams)"
STREAM_OUT=$("$STREAM_PROBE" --streams "$STREAMS" --rounds 3 --warmup 5 \
  "direct=127.0.0.1:$MOCK_PORT:$STREAM_MODEL" "gateway=127.0.0.1:$GATEWAY_PORT:bench-stream:$KEY" \
  "nginx=127.0.0.1:$NGINX_PORT:$STREAM_MODEL" "gatewaybp=127.0.0.1:$GATEWAY_BP_PORT:bench-stream:$KEY")
echo "$STREAM_OUT" | grep -vE "^(RESULT|DIFF)" >&2
STREAM_DIRECT=$(grep "^RESULT direct " <<<"$STREAM_OUT")
STREAM_GATEWAY=$(grep "^RESULT gateway " <<<"$STREAM_OUT")
STREAM_DIFF=$(grep "^DIFF gateway-direct " <<<"$STREAM_OUT")
STREAM_NGINX=$(grep "^RESULT nginx " <<<"$STREAM_OUT")
STREAM_DIFF_NGINX=$(grep "^DIFF nginx-direct " <<<"$STREAM_OUT")
STREAM_BP=$(grep "^RESULT gatewaybp " <<<"$STREAM_OUT")
STREAM_DIFF_BP=$(grep "^DIFF gatewaybp-direct " <<<"$STREAM_OUT")

log "d2. stream translation per chunk (translate_bench, no sockets)"
TRANSLATE_OUT=$("$TRANSLATE_BENCH" --chunks 500 --rounds "$([[ $QUICK -eq 1 ]] && echo 2 || echo 9)")
echo "$TRANSLATE_OUT" | grep -v "^RESULT" >&2
TRANSLATE_MAX=$(sed -n 's/.*ns_per_chunk=\([0-9]*\).*/\1/p' <<<"$TRANSLATE_OUT" | sort -n | tail -n 1)

# ---------------------------------------------------------------------------------------------
log "e. growth: RSS after $WARM_REQUESTS warm-up requests vs after $GROWTH_REQUESTS more (32 connections)"
"$LOAD_PROBE" --connections 32 --requests "$WARM_REQUESTS" --ramp-ms 0 \
  "gateway=127.0.0.1:$GATEWAY_PORT:bench:$KEY" >"$WORK/growth-warm.txt"
GROWTH_BEFORE=$(rss_kib "$GATEWAY_PID" VmRSS)
set +e
GROWTH_OUT=$("$LOAD_PROBE" --connections 32 --requests "$GROWTH_REQUESTS" --ramp-ms 0 \
  "gateway=127.0.0.1:$GATEWAY_PORT:bench:$KEY")
GROWTH_RC=$?
set -e
echo "$GROWTH_OUT" >&2
GROWTH_AFTER=$(rss_kib "$GATEWAY_PID" VmRSS)

# ---------------------------------------------------------------------------------------------
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN {
  ok = (op == "<=") ? (v <= t) : (v >= t); print ok ? "met" : "**missed**" }'; }
CPU_MODEL=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
CPU_MHZ=$(lscpu 2>/dev/null | sed -n 's/^CPU max MHz:[[:space:]]*//p' | head -n 1)
CMDLINE="tests/bench/proxy_bench.sh BUILD_DIR"
if [[ $LONG -eq 1 ]]; then CMDLINE+=" --long"; fi
if [[ $MOCK_THREADS != 1 || $IO_THREADS != 1 || $WRK_THREADS != 1 ]]; then
  CMDLINE="MOCK_THREADS=$MOCK_THREADS IO_THREADS=$IO_THREADS WRK_THREADS=$WRK_THREADS $CMDLINE"
fi

SECTION="$WORK/section.md"
{
  echo "<!-- gateway-bench:begin (generated by tests/bench/proxy_bench.sh; edit the script, not this section) -->"
  echo "## Gateway proxy overhead"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on ${CPU_MODEL:-unknown CPU}${CPU_MHZ:+ (max ${CPU_MHZ%.*} MHz)}," \
    "$(nproc) CPUs as seen by nproc, Linux $(uname -r), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM."
  echo "Everything runs on that one machine over 127.0.0.1: the load generator, the mock upstream"
  echo "(\`infergate-mock-openai --threads $MOCK_THREADS\`), the gateway (\`io_threads: $IO_THREADS\`,"
  echo "access log off) and nginx $("$NGINX_BIN" -v 2>&1 | sed 's/.*nginx\///') (\`worker_processes $IO_THREADS\`,"
  echo "\`upstream { keepalive 64; }\`, access log off). With few cores the three processes compete"
  echo "for CPU, so absolute figures are lower than on a dedicated host; the comparisons are what count."
  echo "Load average (1 min) when the run started: $LOAD_BEFORE, when it ended: $(cut -d' ' -f1 /proc/loadavg)"
  echo "(anything well above 0 means other work shared the CPUs and distorted the figures)."
  echo
  echo "Reproduce (Release build; needs \`wrk\` and \`nginx-light\`):"
  echo
  echo '```sh'
  echo "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j"
  echo "${CMDLINE/BUILD_DIR/build}"
  echo '```'
  echo
  echo "### a. Throughput (non-streaming chat, wrk -t$WRK_THREADS -c32, $A_SECONDS s per run)"
  echo
  echo "| variant | round 1 | round 2 | round 3 | median req/s |"
  echo "|---|---:|---:|---:|---:|"
  for v in direct nginx gateway; do
    echo "| $v | ${RPS[$v,1]} | ${RPS[$v,2]} | ${RPS[$v,3]} | **${RPS[$v,median]}** |"
  done
  echo
  echo "gateway / nginx = **$RATIO** (target ≥ 0.8: $(verdict "$RATIO" 0.8 ">="))."
  [[ $ERRORS_A -eq 0 ]] && echo "No non-2xx answers or socket errors." ||
    echo "**Some runs had non-2xx answers or socket errors** (see the script's output)."
  echo
  echo "### b. Added latency at concurrency 1 (latency_probe: $LAT_ROUNDS interleaved rounds × $LAT_REQUESTS requests, one keep-alive connection each, zero-delay mock)"
  echo
  echo "| | p50 µs | p90 µs | p99 µs | p99.9 µs |"
  echo "|---|---:|---:|---:|---:|"
  for row in "direct:$LAT_DIRECT" "nginx:$LAT_NGINX" "gateway:$LAT_GATEWAY"; do
    name=${row%%:*}
    r=${row#*:}
    echo "| $name | $(field p50 "$r") | $(field p90 "$r") | $(field p99 "$r") | $(field p999 "$r") |"
  done
  echo "| **gateway − direct** | **$(field p50 "$LAT_DIFF")** | **$(field p90 "$LAT_DIFF")** | **$(field p99 "$LAT_DIFF")** | |"
  echo "| nginx − direct | $(field p50 "$LAT_DIFF_NGINX") | $(field p90 "$LAT_DIFF_NGINX") | $(field p99 "$LAT_DIFF_NGINX") | |"
  echo
  echo "Target: gateway − direct at p99 ≤ 150 µs: $(verdict "$(field p99 "$LAT_DIFF")" 150 "<=")."
  echo
  echo "### c. $C_CONNECTIONS requests in flight (load_probe: $C_CONNECTIONS keep-alive connections opened over 1 s, $C_SECONDS s, mock latency 1,500 ms, 10 s timeout)"
  echo
  echo "| sent | 2xx | non-2xx | connect errors | I/O errors | timeouts | peak in flight | req/s | p50 ms | p99 ms |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  echo "| $(field sent "$LOAD_OUT") | $(field ok "$LOAD_OUT") | $(field non2xx "$LOAD_OUT") | $(field connect_errors "$LOAD_OUT") | $(field io_errors "$LOAD_OUT") | $(field timeouts "$LOAD_OUT") | $(field peak_in_flight "$LOAD_OUT") | $(field rps "$LOAD_OUT") | $(field p50_ms "$LOAD_OUT") | $(field p99_ms "$LOAD_OUT") |"
  echo
  echo "Gateway resident memory: idle before the load **$(mib "$IDLE_RSS") MiB**, peak during it **$(mib "$PEAK_RSS") MiB**" \
    "(sampled VmRSS every 50 ms; VmHWM afterwards $(mib "$HWM_RSS") MiB)."
  [[ $LOAD_RC -eq 0 ]] && echo "All requests succeeded." || echo "**Not all requests succeeded.**"
  echo
  echo "### d. Streaming (stream_probe: 50 tokens 2 ms apart, 3 interleaved rounds × $STREAMS streams)"
  echo
  echo "| | content events | TTFT p50 µs | TTFT p99 µs | gap p50 µs | gap p99 µs |"
  echo "|---|---:|---:|---:|---:|---:|"
  for row in "direct:$STREAM_DIRECT" "nginx:$STREAM_NGINX" "gateway:$STREAM_GATEWAY" \
    "gateway, busy_poll_us $BUSY_POLL_US:$STREAM_BP"; do
    name=${row%%:*}
    r=${row#*:}
    echo "| $name | $(field events "$r") | $(field ttft_p50 "$r") | $(field ttft_p99 "$r") | $(field gap_p50 "$r") | $(field gap_p99 "$r") |"
  done
  echo "| **gateway − direct** | | **$(field ttft_p50 "$STREAM_DIFF")** | **$(field ttft_p99 "$STREAM_DIFF")** | **$(field gap_p50 "$STREAM_DIFF")** | **$(field gap_p99 "$STREAM_DIFF")** |"
  echo "| nginx − direct (reference: a plain proxy, \`X-Accel-Buffering: no\` from the mock) | | $(field ttft_p50 "$STREAM_DIFF_NGINX") | $(field ttft_p99 "$STREAM_DIFF_NGINX") | $(field gap_p50 "$STREAM_DIFF_NGINX") | $(field gap_p99 "$STREAM_DIFF_NGINX") |"
  echo "| **gateway with busy_poll_us: $BUSY_POLL_US − direct** | | **$(field ttft_p50 "$STREAM_DIFF_BP")** | **$(field ttft_p99 "$STREAM_DIFF_BP")** | **$(field gap_p50 "$STREAM_DIFF_BP")** | **$(field gap_p99 "$STREAM_DIFF_BP")** |"
  echo
  echo "The gateway rows differ only in \`server.busy_poll_us\` (default 0: the I/O thread sleeps in"
  echo "epoll_wait as soon as it is idle). With $BUSY_POLL_US it polls that long after its last event, so the"
  echo "upstream's first chunk and the client's next request find it awake: on this virtual machine a"
  echo "sleeping thread's wake-up costs more than the gateway's own work on the first token."
  echo
  echo "Targets: added TTFT ≤ 150 µs (median $(verdict "$(field ttft_p50 "$STREAM_DIFF")" 150 "<=") by default,"\
    "$(verdict "$(field ttft_p50 "$STREAM_DIFF_BP")" 150 "<=") with busy_poll_us $BUSY_POLL_US)," \
    "added gap ≤ 30 µs (median $(verdict "$(field gap_p50 "$STREAM_DIFF")" 30 "<="))."
  echo
  echo "### d2. Stream translation per chunk (translate_bench: 500 text deltas per stream, best of rounds)"
  echo
  echo "CPU time per upstream chunk for the whole path the gateway runs on it: framing (SSE parser or"
  echo "AWS event-stream decoder with CRCs), the adapter's decoder (provider JSON → canonical events)"
  echo "and the client dialect's writer (events → SSE bytes). No sockets (their share is the gap above)."
  echo
  echo "| client dialect ↓ / provider format → | openai | anthropic | gemini | bedrock |"
  echo "|---|---:|---:|---:|---:|"
  for client in openai anthropic; do
    row="| $client |"
    for provider in openai anthropic gemini bedrock; do
      ns=$(sed -n "s/^RESULT client=$client provider=$provider ns_per_chunk=\([0-9]*\).*/\1/p" <<<"$TRANSLATE_OUT")
      row+=" $(awk -v n="$ns" 'BEGIN { printf "%.2f µs", n / 1000 }') |"
    done
    echo "$row"
  done
  echo
  echo "Target: under 5 µs per streamed chunk: worst pair $(awk -v n="$TRANSLATE_MAX" 'BEGIN { printf "%.2f", n / 1000 }') µs," \
    "$(verdict "$TRANSLATE_MAX" 5000 "<=")."
  echo
  echo "### e. Growth (load_probe, 32 connections, non-streaming)"
  echo
  echo "| RSS after $WARM_REQUESTS warm-up requests | RSS after $GROWTH_REQUESTS more | growth | req/s |"
  echo "|---:|---:|---:|---:|"
  echo "| $(mib "$GROWTH_BEFORE") MiB | $(mib "$GROWTH_AFTER") MiB | $(mib $((GROWTH_AFTER - GROWTH_BEFORE))) MiB | $(field rps "$GROWTH_OUT") |"
  [[ $GROWTH_RC -eq 0 ]] || echo "**Some requests failed** (see the script's output)."
  echo "<!-- gateway-bench:end -->"
} >"$SECTION"

echo
cat "$SECTION"

if [[ $WRITE -eq 1 ]]; then
  DOC="$ROOT/docs/BENCHMARKS.md"
  mkdir -p "$(dirname "$DOC")"
  [[ -f $DOC ]] || printf '# Benchmarks\n\n' >"$DOC"
  # Replace the gateway section between its markers, or append it; other sections stay as they are.
  awk -v section="$SECTION" '
    /<!-- gateway-bench:begin/ { while ((getline line < section) > 0) print line; skip = 1; done = 1; next }
    /<!-- gateway-bench:end -->/ { skip = 0; next }
    !skip { print }
    END { if (!done) { print ""; while ((getline line < section) > 0) print line } }
  ' "$DOC" >"$WORK/doc.md"
  cp "$WORK/doc.md" "$DOC"
  log "wrote the gateway section of $DOC"
fi
