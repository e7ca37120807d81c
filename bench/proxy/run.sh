#!/usr/bin/env bash
# Runs haproxy (from apt) and dermaga's proxy side by side on the same configuration and the same
# backends, with the proxy pinned to core 0 and wrk plus the backends pinned to core 1, and prints
# for each scenario: requests (or bytes) per proxy CPU-second (utime+stime from /proc/PID/stat),
# raw rate, p50/p99 latency, resident memory, and the dermaga/haproxy ratios.
#
#   bench/proxy/run.sh [SECONDS]        (default 10 s per scenario and proxy)
#
# Scenarios: keep-alive small responses; one request per connection; TCP bulk transfer;
# IDLE (default 9,900) idle keep-alive client connections (resident memory).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
CONNS=${CONNS:-50}
IDLE=${IDLE:-9900}   # 10,000 needs an fd limit above 20,114 for haproxy (2 per maxconn); the hard limit here is 20,000
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }
[ -x "$HAPROXY" ] || { echo "bench: $HAPROXY is missing (apt-get install haproxy)" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# haproxy wants 2 descriptors per connection of maxconn: keep maxconn under half the limit.

cargo build --release -q -p dermaga-proxy --bin dermaga-proxy --example bench_peer
TARGET=${CARGO_TARGET_DIR:-target}
DERMAGA=$TARGET/release/dermaga-proxy
PEER=$TARGET/release/examples/bench_peer
# shellcheck source=bench/proxy/lib.sh
. bench/proxy/lib.sh  # the scripts run from the repository root (cd above)

BE_HTTP=$(port); BE_TCP=$(port)
taskset -c 1 "$PEER" http-backend "$BE_HTTP" & PIDS+=($!)
taskset -c 1 "$PEER" tcp-source "$BE_TCP" & PIDS+=($!)


config() { # $1 = http port, $2 = tcp port
  cat <<CFG
global
    nbthread 1
    maxconn 9950
defaults
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe_http
    mode http
    bind 127.0.0.1:$1
    default_backend be_http
backend be_http
    mode http
    server s1 127.0.0.1:$BE_HTTP
listen tcp_bulk
    mode tcp
    bind 127.0.0.1:$2
    server s1 127.0.0.1:$BE_TCP
CFG
}

start_proxy() { # $1 = name, $2 = binary; sets PROXY_PID, HP, TP
  HP=$(port); TP=$(port)
  config "$HP" "$TP" > "$TMP/$1.cfg"
  taskset -c 0 "$2" -db -f "$TMP/$1.cfg" >/dev/null 2>&1 &
  PROXY_PID=$!; PIDS+=($PROXY_PID)
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$HP) 2>/dev/null && break; sleep 0.05; done
}



declare -A R
for name in haproxy dermaga; do
  bin=$HAPROXY; [ $name = dermaga ] && bin=$DERMAGA
  start_proxy $name "$bin"
  R[$name,ka]=$(wrk_run "$PROXY_PID" "http://127.0.0.1:$HP/")
  R[$name,close]=$(wrk_run "$PROXY_PID" -H "Connection: close" "http://127.0.0.1:$HP/")
  c0=$(cpu_ticks "$PROXY_PID")
  bytes=$(taskset -c 1 "$PEER" tcp-sink "127.0.0.1:$TP" "$SECS" 4)
  c1=$(cpu_ticks "$PROXY_PID")
  cpu=$(awk -v a="$c0" -v b="$c1" -v t="$ticks" 'BEGIN{printf "%.2f", (b-a)/t}')
  R[$name,tcp]="$(awk -v b="$bytes" -v s="$SECS" 'BEGIN{printf "%.0f", b/s}') 0 0 $cpu $(rss_kb "$PROXY_PID")"
  rss0=$(rss_kb "$PROXY_PID")
  taskset -c 1 "$PEER" idle-clients "127.0.0.1:$HP" "$IDLE" > "$TMP/idle.out" & IPID=$!; PIDS+=($IPID)
  for _ in $(seq 600); do grep -q ready "$TMP/idle.out" 2>/dev/null && break; sleep 0.1; done
  sleep 2 # let idle connections settle (dermaga parks them after 500 ms)
  held=$(awk '{print $2}' "$TMP/idle.out")
  R[$name,idle]="$held $(rss_kb "$PROXY_PID") $rss0"
  kill "$IPID" 2>/dev/null || true
  kill "$PROXY_PID" 2>/dev/null || true
  wait "$PROXY_PID" 2>/dev/null || true
done

per_cpu() { awk -v r="$1" -v c="$2" -v s="$SECS" 'BEGIN{ if (c>0) printf "%.0f", r*s/c; else print "inf" }'; }

printf "\n%-24s %-8s %12s %12s %9s %9s %8s %10s\n" scenario proxy "per-CPU-s" "raw/s" "p50 ms" "p99 ms" "cpu s" "RSS KiB"
for sc in ka close tcp; do
  label=$sc; [ $sc = ka ] && label="keep-alive small"; [ $sc = close ] && label="one req per conn"; [ $sc = tcp ] && label="TCP bulk (bytes)"
  for name in haproxy dermaga; do
    read -r rps p50 p99 cpu rss <<< "${R[$name,$sc]}"
    printf "%-24s %-8s %12s %12s %9s %9s %8s %10s\n" "$label" $name "$(per_cpu "$rps" "$cpu")" "$rps" "$p50" "$p99" "$cpu" "$rss"
  done
  read -r hr _ hp99 hc _ <<< "${R[haproxy,$sc]}"
  read -r dr _ dp99 dc _ <<< "${R[dermaga,$sc]}"
  printf "%-24s ratio dermaga/haproxy: per-CPU-s %s, raw %s, p99 %s\n" "" "$(ratio "$(per_cpu "$dr" "$dc")" "$(per_cpu "$hr" "$hc")")" "$(ratio "$dr" "$hr")" "$(ratio "$dp99" "$hp99")"
done
read -r hn hrss hrss0 <<< "${R[haproxy,idle]}"
read -r dn drss drss0 <<< "${R[dermaga,idle]}"
printf "%-24s haproxy %s conns RSS %s KiB (idle before %s) ; dermaga %s conns RSS %s KiB (idle before %s) ; ratio %s\n" \
  "idle keep-alive conns" "$hn" "$hrss" "$hrss0" "$dn" "$drss" "$drss0" "$(ratio "$drss" "$hrss")"
