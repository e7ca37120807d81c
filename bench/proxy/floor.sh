#!/usr/bin/env bash
# HTTP/1.1 keep-alive against the floor: haproxy, dermaga and `forward_floor` (an example of the
# proxy crate that makes only the system calls every proxy must make per request, with no HTTP
# work at all), plus the same forwarder on tokio, in ROUNDS alternating rounds on the same
# backend and load (run.sh's keep-alive scenario: wrk -t1 -c50, proxy on core 0, wrk and the
# backend on core 1). Prints the median requests per proxy CPU-second of each and the ratios
# to haproxy: how far the kernel lets any proxy go on this machine.
#
#   bench/proxy/floor.sh [ROUNDS] [SECONDS]     (default 5 rounds of 4 s, after 1 s of warm-up)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5}
SECS=${2:-4}
CONNS=${CONNS:-50}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }
[ -x "$HAPROXY" ] || { echo "bench: $HAPROXY is missing (apt-get install haproxy)" >&2; exit 1; }

cargo build --release -q -p dermaga-proxy --bin dermaga-proxy --example bench_peer --example forward_floor
TARGET=${CARGO_TARGET_DIR:-target}
DERMAGA=$TARGET/release/dermaga-proxy
PEER=$TARGET/release/examples/bench_peer
FLOOR=$TARGET/release/examples/forward_floor
# shellcheck source=bench/proxy/lib.sh
. bench/proxy/lib.sh

BE=$(port)
taskset -c 1 "$PEER" http-backend "$BE" & PIDS+=($!)

start() { # $1 = variant, $2 = port; sets PP
  case $1 in
    haproxy|dermaga)
      local bin=$HAPROXY; [ "$1" = dermaga ] && bin=$DERMAGA
      { http_cfg_head; cat <<CFG
frontend fe
    bind 127.0.0.1:$2
    default_backend be
backend be
    server s1 127.0.0.1:$BE
CFG
      } > "$TMP/$1.cfg"
      taskset -c 0 "$bin" -db -f "$TMP/$1.cfg" >/dev/null 2>&1 & PP=$! ;;
    floor) taskset -c 0 "$FLOOR" "$2" "$BE" & PP=$! ;;
    floor-tokio) taskset -c 0 "$FLOOR" --tokio "$2" "$BE" & PP=$! ;;
  esac
  PIDS+=($PP)
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$2) 2>/dev/null && break; sleep 0.05; done
}

VARIANTS=(haproxy dermaga floor floor-tokio)
declare -A PER
for r in $(seq "$ROUNDS"); do
  for v in "${VARIANTS[@]}"; do
    p=$(port)
    start $v "$p"
    taskset -c 1 wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$p/" >/dev/null
    read -r rps _ _ cpu _ <<< "$(wrk_run "$PP" "http://127.0.0.1:$p/")"
    kill "$PP"; wait "$PP" 2>/dev/null || true
    per=$(awk -v r="$rps" -v s="$SECS" -v c="$cpu" 'BEGIN{ if (c>0) printf "%.0f", r*s/c; else print 0 }')
    PER[$v]="${PER[$v]:-} $per"
    echo "round $r $v: $per requests per CPU-s (raw $rps/s)" >&2
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
h=$(echo "${PER[haproxy]}" | median)
printf "\n%-12s %12s %10s   %s\n" variant "per-CPU-s" "/haproxy" "rounds"
for v in "${VARIANTS[@]}"; do
  m=$(echo "${PER[$v]}" | median)
  printf "%-12s %12s %10s   %s\n" "$v" "$m" "$(ratio "$m" "$h")" "${PER[$v]}"
done
