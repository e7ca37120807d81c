#!/usr/bin/env bash
# HTTP/2 from clients: haproxy (Debian's 2.6) and dermaga's proxy one after the other on the same
# configuration (nbthread 1), the same backend (HTTP/1.1), the proxy pinned to core 0 and
# h2load plus the backend to core 1. Both proxies detect the HTTP/2 preface on a plain HTTP
# bind (prior knowledge) and pick h2 by ALPN on `bind ... ssl alpn h2,http/1.1`.
# Prints per scenario: requests per proxy CPU-second (utime+stime from /proc/PID/stat), the
# raw rate, the mean request time, and the ratios.
#
# Within a round both proxies run side by side (pinned to the same core, loaded in turn):
# each scenario's requests go in BURSTS bursts per proxy, alternating between the two, so
# that the host's drift within the round (its speed moves by tens of percent within
# seconds on this shared machine) falls on both alike. Each proxy's CPU time is read at the
# start and the end of the scenario; the idle one uses none meanwhile. (Over TLS each burst
# opens its 10 connections anew: 80 handshakes per scenario instead of 10, about 1 % of
# haproxy's CPU time there and 0.5 % of dermaga's.)
#
#   bench/proxy/h2.sh [REQUESTS] [ROUNDS]   (default 200000 per scenario and proxy; 3 rounds)
#   BURSTS=8                                 bursts per scenario and proxy
#
# Scenarios (h2load -c 10 -m 10: 10 connections, 10 streams in flight on each):
#   h2c      cleartext HTTP/2 by prior knowledge
#   h2 TLS   HTTP/2 over TLS 1.3 (ECDSA P-256), ALPN h2; 10 handshakes, then streams
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-200000}
ROUNDS=${2:-3}
BURSTS=${BURSTS:-8}
N=$((N / BURSTS * BURSTS)) # whole bursts: the rates below divide N by the time and CPU
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
command -v h2load >/dev/null || { echo "bench: h2load is missing (apt-get install nghttp2-client)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "bench: openssl is missing (apt-get install openssl)" >&2; exit 1; }
[ -x "$HAPROXY" ] || { echo "bench: $HAPROXY is missing (apt-get install haproxy)" >&2; exit 1; }

cargo build --release -q -p dermaga-proxy --bin dermaga-proxy --example bench_peer
TARGET=${CARGO_TARGET_DIR:-target}
DERMAGA=${DERMAGA:-$TARGET/release/dermaga-proxy}  # DERMAGA=path compares another build
PEER=$TARGET/release/examples/bench_peer
# shellcheck source=bench/proxy/lib.sh
. bench/proxy/lib.sh  # the scripts run from the repository root (cd above)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench.test \
  -addext subjectAltName=DNS:bench.test -keyout "$TMP/ec.key" -out "$TMP/ec.crt" 2>/dev/null
cat "$TMP/ec.crt" "$TMP/ec.key" > "$TMP/ec.pem"

BE=$(port)
taskset -c 1 "$PEER" http-backend "$BE" & PIDS+=($!)


config() { # $1 = cleartext port, $2 = TLS port
  http_cfg_head 9000
  cat <<CFG
frontend fe
    bind 127.0.0.1:$1
    bind 127.0.0.1:$2 ssl crt $TMP/ec.pem alpn h2,http/1.1
    default_backend be
backend be
    server s1 127.0.0.1:$BE
CFG
}

start_proxy() { # $1 = name, $2 = binary; sets PROXY_PID, CP, TP
  CP=$(port); TP=$(port)
  config "$CP" "$TP" > "$TMP/$1.cfg"
  taskset -c 0 "$2" -db -f "$TMP/$1.cfg" >/dev/null 2>&1 &
  PROXY_PID=$!; PIDS+=($PROXY_PID)
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$TP) 2>/dev/null && break; sleep 0.05; done
}

# One burst of N/BURSTS requests -> prints "seconds mean_ms succeeded"
burst() {
  local out
  out=$(taskset -c 1 h2load -n "$((N / BURSTS))" -c 10 -m 10 "$1")
  echo "$out" | awk '/^finished in/{x=$3; sub(/,$/, "", x); s=x+0; if (x ~ /ms$/) s/=1000}
    /^time for request:/{m=$6} /^requests:/{ok=$8} END{print s, m, ok}'
}
# A process's user and kernel CPU ticks.
ticks_of() { awk '{print $14, $15}' "/proc/$1/stat"; }

# scenario h2c|tls -> sets R[name,scenario] = "rps mean_ms cpu_s succeeded user_s sys_s" for
# both proxies
scenario() {
  local sc=$1 name b order u1 s1 url t m ok
  declare -A secs means oks U0 S0
  for name in haproxy dermaga; do
    read -r U0[$name] S0[$name] < <(ticks_of "${PID_OF[$name]}")
    secs[$name]=0 means[$name]=0 oks[$name]=0
  done
  for ((b = 0; b < BURSTS; b++)); do
    if ((b % 2 == 0)); then order="haproxy dermaga"; else order="dermaga haproxy"; fi
    for name in $order; do
      if [ "$sc" = h2c ]; then url="http://127.0.0.1:${CP_OF[$name]}/"; else url="https://127.0.0.1:${TP_OF[$name]}/"; fi
      read -r t m ok < <(burst "$url")
      if [ -z "$t" ] || [ "${ok:-0}" -le 0 ]; then
        echo "h2.sh: h2load against $name ($url) answered nothing" >&2
        exit 1
      fi
      secs[$name]=$(awk -v a="${secs[$name]}" -v b="$t" 'BEGIN{print a+b}')
      means[$name]=$(awk -v a="${means[$name]}" -v b="$(to_ms "$m")" 'BEGIN{print a+b}')
      oks[$name]=$((oks[$name] + ok))
    done
  done
  for name in haproxy dermaga; do
    read -r u1 s1 < <(ticks_of "${PID_OF[$name]}")
    R[$name,$sc]=$(awk -v u0="${U0[$name]}" -v s0="${S0[$name]}" -v u1="$u1" -v s1="$s1" -v t="$ticks" \
      -v secs="${secs[$name]}" -v means="${means[$name]}" -v ok="${oks[$name]}" -v n="$N" -v b="$BURSTS" \
      'BEGIN{printf "%.2f %.2fms %.2f %s %.2f %.2f", n/secs, means/b, (u1-u0+s1-s0)/t, ok, (u1-u0)/t, (s1-s0)/t}')
  done
}

declare -A R PID_OF CP_OF TP_OF
for round in $(seq "$ROUNDS"); do
  start_proxy haproxy "$HAPROXY"; PID_OF[haproxy]=$PROXY_PID CP_OF[haproxy]=$CP TP_OF[haproxy]=$TP
  start_proxy dermaga "$DERMAGA"; PID_OF[dermaga]=$PROXY_PID CP_OF[dermaga]=$CP TP_OF[dermaga]=$TP
  for sc in h2c tls; do
    scenario $sc
    for name in haproxy dermaga; do R[$name,$sc,$round]=${R[$name,$sc]}; done
  done
  for name in haproxy dermaga; do
    kill "${PID_OF[$name]}" 2>/dev/null || true
    wait "${PID_OF[$name]}" 2>/dev/null || true
  done
  echo "round $round of $ROUNDS:"
  h2load_table succeeded h2c h2c tls "h2 TLS"
done

# Per scenario: the median ratio of requests per proxy CPU-second, and where the time goes
# (user and kernel microseconds per request, medians). The kernel's part is the system calls
# every proxy makes alike; "bound" is the ratio dermaga would reach with no user time at all.
median() { sort -n | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else printf "%.2f", (a[NR/2]+a[NR/2+1])/2 }'; }
us_per_req() { awk -v s="$1" -v n="$N" 'BEGIN{printf "%.2f", s/n*1e6}'; }
echo
printf "%-8s %8s %24s %24s %7s\n" scenario ratio "haproxy user+sys us/req" "dermaga user+sys us/req" bound
for sc in h2c tls; do
  ratios=() hu=() hs=() du=() ds=()
  for round in $(seq "$ROUNDS"); do
    read -r _ _ hc _ hus hss <<< "${R[haproxy,$sc,$round]}"
    read -r _ _ dc _ dus dss <<< "${R[dermaga,$sc,$round]}"
    ratios+=("$(ratio "$hc" "$dc")")
    hu+=("$(us_per_req "$hus")") hs+=("$(us_per_req "$hss")")
    du+=("$(us_per_req "$dus")") ds+=("$(us_per_req "$dss")")
  done
  m() { printf "%s\n" "$@" | median; }
  r=$(m "${ratios[@]}"); a=$(m "${hu[@]}"); b=$(m "${hs[@]}"); c=$(m "${du[@]}"); d=$(m "${ds[@]}")
  bound=$(awk -v a="$a" -v b="$b" -v d="$d" 'BEGIN{ if (d>0) printf "%.2f", (a+b)/d; else print "-" }')
  printf "%-8s %8s %24s %24s %7s\n" "$sc" "$r" "$a + $b" "$c + $d" "$bound"
done
echo "(ratio: median over $ROUNDS rounds of dermaga's requests per CPU-second over haproxy's)"
