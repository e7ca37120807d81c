#!/usr/bin/env bash
# Two or more proxy builds (and haproxy) on one load, in alternating rounds: what a change to
# the proxy did to its CPU time per request, with the machine's drift spread over all of
# them. Each round starts every proxy afresh, in the order given, on the same configuration
# (nbthread 1) and the same HTTP/1.1 backend; the proxy is pinned to core 0, h2load and the
# backend to core 1. Prints each run's user and kernel microseconds per request, then per
# proxy the medians and how many rounds it beat the first one in.
#
#   bench/proxy/ab.sh NAME=PATH [NAME=PATH ...]   e.g. before=/tmp/dermaga-proxy.old
#                                                 after=target/release/dermaga-proxy
#   NAME "haproxy" alone runs Debian's haproxy.
#   ROUNDS=10 N=150000                            rounds, requests per run
#   LOAD="-c 10 -m 10"                            h2load's arguments (h2c by prior knowledge;
#                                                 "--h1 -c 50" for HTTP/1.1 keep-alive)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { sed -n '2,15p' "$0"; exit 1; }
ROUNDS=${ROUNDS:-10}
N=${N:-150000}
LOAD=${LOAD:--c 10 -m 10}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
command -v h2load >/dev/null || { echo "bench: h2load is missing (apt-get install nghttp2-client)" >&2; exit 1; }
names=() bins=()
for a in "$@"; do
  case $a in
    haproxy) names+=(haproxy) bins+=("$HAPROXY") ;;
    *=*) names+=("${a%%=*}") bins+=("${a#*=}") ;;
    *) echo "bench: NAME=PATH or haproxy expected, not '$a'" >&2; exit 1 ;;
  esac
done
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "bench: $b is not an executable" >&2; exit 1; }; done

cargo build --release -q -p dermaga-proxy --example bench_peer
PEER=${CARGO_TARGET_DIR:-target}/release/examples/bench_peer
# shellcheck source=bench/proxy/lib.sh
. bench/proxy/lib.sh
BE=$(port)
taskset -c 1 "$PEER" http-backend "$BE" & PIDS+=($!)

declare -A U S
for round in $(seq "$ROUNDS"); do
  for i in "${!names[@]}"; do
    name=${names[$i]}
    CP=$(port)
    { http_cfg_head 9000; printf 'frontend fe\n    bind 127.0.0.1:%s\n    default_backend be\nbackend be\n    server s1 127.0.0.1:%s\n' "$CP" "$BE"; } > "$TMP/$name.cfg"
    taskset -c 0 "${bins[$i]}" -db -f "$TMP/$name.cfg" >/dev/null 2>&1 & pid=$!; PIDS+=($pid)
    for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$CP") 2>/dev/null && break; sleep 0.05; done
    read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    # shellcheck disable=SC2086
    out=$(taskset -c 1 h2load -n "$N" $LOAD "http://127.0.0.1:$CP/")
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    ok=$(echo "$out" | awk '/^requests:/{print $8}')
    [ "$ok" = "$N" ] || { echo "bench: $name answered $ok of $N requests" >&2; exit 1; }
    U[$name,$round]=$(awk -v d=$((u1 - u0)) -v t="$ticks" -v n="$N" 'BEGIN{printf "%.2f", d/t/n*1e6}')
    S[$name,$round]=$(awk -v d=$((s1 - s0)) -v t="$ticks" -v n="$N" 'BEGIN{printf "%.2f", d/t/n*1e6}')
    printf "round %2d  %-10s user %6s  kernel %6s  us/req\n" "$round" "$name" "${U[$name,$round]}" "${S[$name,$round]}"
  done
done

median() { sort -n | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else printf "%.2f", (a[NR/2]+a[NR/2+1])/2 }'; }
echo
printf "%-10s %8s %8s %8s %14s\n" proxy user kernel total "beat ${names[0]}"
for name in "${names[@]}"; do
  us=() ks=() ts=() wins=0
  for round in $(seq "$ROUNDS"); do
    u=${U[$name,$round]} s=${S[$name,$round]}
    us+=("$u") ks+=("$s") ts+=("$(awk -v a="$u" -v b="$s" 'BEGIN{printf "%.2f", a+b}')")
    first=$(awk -v a="${U[${names[0]},$round]}" -v b="${S[${names[0]},$round]}" 'BEGIN{print a+b}')
    wins=$((wins + $(awk -v a="$u" -v b="$s" -v f="$first" 'BEGIN{print (a+b < f) ? 1 : 0}')))
  done
  printf "%-10s %8s %8s %8s %14s\n" "$name" "$(printf '%s\n' "${us[@]}" | median)" \
    "$(printf '%s\n' "${ks[@]}" | median)" "$(printf '%s\n' "${ts[@]}" | median)" "$wins of $ROUNDS"
done
echo "(proxy CPU microseconds per request, medians over $ROUNDS rounds of $N requests; h2load $LOAD)"
