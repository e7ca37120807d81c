#!/usr/bin/env bash
# HTTP/2 to servers: haproxy (Debian's 2.6) and dermaga's proxy one after the other on the same
# configuration (nbthread 1, `server ... proto h2` to a cleartext HTTP/2 backend), the proxy
# pinned to core 0 and h2load plus the backend to core 1. Clients speak HTTP/1.1 (h2load
# --h1) and HTTP/2 (prior knowledge). Prints requests per proxy CPU-second (utime+stime from
# /proc/PID/stat), the raw rate, the mean request time, and the ratios.
#
#   bench/proxy/h2-servers.sh [REQUESTS]     (default 200000 per scenario and proxy)
#
# Scenarios (h2load -c 10 -m 10; HTTP/1.1 clients pipeline nothing: -m applies to HTTP/2):
#   h1 -> h2   HTTP/1.1 clients, HTTP/2 server
#   h2 -> h2   HTTP/2 clients (prior knowledge), HTTP/2 server
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-200000}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
command -v h2load >/dev/null || { echo "bench: h2load is missing (apt-get install nghttp2-client)" >&2; exit 1; }
[ -x "$HAPROXY" ] || { echo "bench: $HAPROXY is missing (apt-get install haproxy)" >&2; exit 1; }

cargo build --release -q -p dermaga-proxy --bin dermaga-proxy --example bench_peer
TARGET=${CARGO_TARGET_DIR:-target}
DERMAGA=${DERMAGA:-$TARGET/release/dermaga-proxy}  # DERMAGA=path compares another build
PEER=$TARGET/release/examples/bench_peer
# shellcheck source=bench/proxy/lib.sh
. bench/proxy/lib.sh  # the scripts run from the repository root (cd above)

BE=$(port)
taskset -c 1 "$PEER" h2-backend "$BE" & PIDS+=($!)

config() { # $1 = port
  http_cfg_head 9000
  cat <<CFG
frontend fe
    bind 127.0.0.1:$1
    default_backend be
backend be
    server s1 127.0.0.1:$BE proto h2
CFG
}

start_proxy() { # $1 = name, $2 = binary; sets PROXY_PID, CP
  CP=$(port)
  config "$CP" > "$TMP/$1.cfg"
  taskset -c 0 "$2" -db -f "$TMP/$1.cfg" >/dev/null 2>&1 &
  PROXY_PID=$!; PIDS+=($PROXY_PID)
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$CP) 2>/dev/null && break; sleep 0.05; done
}

# run PID H2LOAD-ARGS... -> prints "rps mean_ms cpu_s done" (answers received: h2load
# --h1 counts no "succeeded" for status lines without a reason phrase, which is how both
# proxies pass on HTTP/2 answers)
run() {
  local pid=$1; shift
  local c0; c0=$(cpu_ticks "$pid")
  local out; out=$(taskset -c 1 h2load -n "$N" -c 10 -m 10 "$@")
  local c1; c1=$(cpu_ticks "$pid")
  local rps mean ok
  rps=$(echo "$out" | awk '/^finished in/{print $4}')
  mean=$(echo "$out" | awk '/^time for request:/{print $6}')
  ok=$(echo "$out" | awk '/^requests:/{print $6}')
  local cpu; cpu=$(awk -v a="$c0" -v b="$c1" -v t="$ticks" 'BEGIN{printf "%.2f", (b-a)/t}')
  echo "$rps $mean $cpu $ok"
}

declare -A R
for name in haproxy dermaga; do
  if [ $name = haproxy ]; then start_proxy haproxy "$HAPROXY"; else start_proxy dermaga "$DERMAGA"; fi
  R[$name,h1]=$(run "$PROXY_PID" --h1 "http://127.0.0.1:$CP/")
  R[$name,h2]=$(run "$PROXY_PID" "http://127.0.0.1:$CP/")
  kill "$PROXY_PID" 2>/dev/null || true
  wait "$PROXY_PID" 2>/dev/null || true
done

h2load_table done h1 "h1 -> h2" h2 "h2 -> h2"
