#!/usr/bin/env bash
# bench/dns/run.sh [SECONDS] [ROUNDS]: NSD, Knot and dermaga on the same zone and the same
# dnsperf query mix. Each server runs one worker pinned to CPU 1; dnsperf runs pinned to CPU 0
# against one server at a time, the three taking turns for ROUNDS rounds (default 3) so that
# load from elsewhere on the machine falls on all of them alike. Reports, per server, the
# median over the rounds of queries per server CPU-second (utime+stime of every thread of the
# server and its children, from /proc) and of raw queries per second, and dermaga's ratios to
# the better of NSD and Knot.
#
# Response rate limiting is off in all three: NSD with `rrl-ratelimit: 0`, Knot without its
# rrl module, dermaga without `--rrl-ratelimit`.
#
# On 2 cores dnsperf, not the server, limits raw qps; compare per CPU-second (design.md).
# Env: RATE=N offers every server the same fixed load of N queries/s (dnsperf -Q) instead of
# dnsperf's maximum, so that per-CPU-second figures compare equal work at equal arrival rates.
# Env: DERMAGA=path to the dermaga binary (default: target/release/dermaga, built if missing).
set -euo pipefail
secs=${1:-10}
rounds=${2:-3}
rate=${RATE:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dermaga=${DERMAGA:-$root/target/release/dermaga}
if [ ! -x "$dermaga" ]; then
  (cd "$root" && cargo build --release -p dermaga)
fi
for p in nsd knotd dnsperf dig taskset; do
  command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || { echo "bench/dns: $p is missing (scripts/test.sh installs it)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/dermaga-bench-dns.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cp "$here/bench.zone" "$work/bench.zone"
clk=$(getconf CLK_TCK)

free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A process and all its descendants (NSD serves from forked children).
family() {
  local p
  echo "$1"
  for p in $(cat /proc/"$1"/task/*/children 2>/dev/null); do family "$p"; done
}

# CPU ticks (user+system) of every thread of a process and its descendants.
cpu_ticks() {
  local total=0 p f
  for p in $(family "$1"); do
    for f in /proc/"$p"/task/*/stat; do
      [ -r "$f" ] || continue
      total=$((total + $(sed 's/.*) //' "$f" | awk '{print $12 + $13}')))
    done
  done
  echo "$total"
}

wait_ready() {
  local port=$1 i
  for i in $(seq 1 100); do
    if dig +time=1 +tries=1 +short -p "$port" @127.0.0.1 bench.example SOA >/dev/null 2>&1 &&
       [ -n "$(dig +time=1 +tries=1 +short -p "$port" @127.0.0.1 bench.example SOA)" ]; then
      return 0
    fi
    sleep 0.1
  done
  echo "bench/dns: server on port $port did not answer; what the servers said:" >&2
  tail -n 5 "$work"/*.out >&2 2>/dev/null || true
  return 1
}

declare -A QPCS QPS PORT PID
measure() {
  local name=$1 pid=${PID[$1]} port=${PORT[$1]}
  local before after out done_q qps cpu_s
  before=$(cpu_ticks "$pid")
  out=$(taskset -c 0 dnsperf -s 127.0.0.1 -p "$port" -d "$here/queries.txt" -c 20 -T 1 -q 200 ${rate:+-Q "$rate"} -l "$secs" 2>&1)
  after=$(cpu_ticks "$pid")
  done_q=$(echo "$out" | awk '/Queries completed:/ {print $3}')
  qps=$(echo "$out" | awk '/Queries per second:/ {printf "%.0f", $4}')
  cpu_s=$(awk -v a="$after" -v b="$before" -v c="$clk" 'BEGIN {printf "%.3f", (a-b)/c}')
  local qpcs
  qpcs=$(awk -v q="$done_q" -v s="$cpu_s" 'BEGIN {if (s > 0) printf "%.0f", q/s; else print 0}')
  QPCS[$name]="${QPCS[$name]:-} $qpcs"
  QPS[$name]="${QPS[$name]:-} $qps"
  printf '  %-8s completed %9s  server CPU %7ss  qps %8s  queries/CPU-s %9s\n' "$name" "$done_q" "$cpu_s" "$qps" "$qpcs"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }


# NSD: one server process, no rate limiting, minimal responses.
port=$(free_port)
mkdir -p "$work/nsd"
cat > "$work/nsd/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@$port
  port: $port
  username: ""
  chroot: ""
  zonesdir: "$work"
  pidfile: "$work/nsd/nsd.pid"
  database: ""
  xfrdfile: "$work/nsd/xfrd.state"
  zonelistfile: "$work/nsd/zone.list"
  xfrdir: "$work/nsd"
  logfile: "$work/nsd/nsd.log"
  server-count: 1
  rrl-ratelimit: 0
  minimal-responses: yes
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: bench.example
  zonefile: "$work/bench.zone"
CONF
taskset -c 1 nsd -d -c "$work/nsd/nsd.conf" >"$work/nsd.out" 2>&1 &
pid=$!; pids+=("$pid"); PID[nsd]=$pid; PORT[nsd]=$port

# Knot: one UDP worker.
port=$(free_port)
mkdir -p "$work/knot"
cat > "$work/knot/knot.conf" <<CONF
server:
  rundir: "$work/knot"
  listen: 127.0.0.1@$port
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
log:
  - target: stderr
    any: error
database:
  storage: "$work/knot"
template:
  - id: default
    storage: "$work/knot"
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: bench.example
    file: "$work/bench.zone"
CONF
taskset -c 1 knotd -c "$work/knot/knot.conf" >"$work/knot.out" 2>&1 &
pid=$!; pids+=("$pid"); PID[knot]=$pid; PORT[knot]=$port

# dermaga: one UDP worker.
port=$(free_port)
taskset -c 1 "$dermaga" dns --listen "127.0.0.1:$port" --zone "bench.example=$work/bench.zone" --workers 1 \
  --pidfile "$work/dermaga.pid" >"$work/dermaga.out" 2>&1 &
pid=$!; pids+=("$pid"); PID[dermaga]=$pid; PORT[dermaga]=$port

for name in nsd knot dermaga; do
  wait_ready "${PORT[$name]}"
  # Knot pins each UDP worker thread to a CPU of its own choosing (its first worker to CPU 0,
  # dnsperf's core), overriding the taskset it was started with: pin every thread of every
  # server back to CPU 1 once it runs, so that all three share the same core layout.
  for p in $(family "${PID[$name]}"); do taskset -a -p -c 1 "$p" >/dev/null; done
  # Warm up.
  taskset -c 0 dnsperf -s 127.0.0.1 -p "${PORT[$name]}" -d "$here/queries.txt" -c 20 -T 1 -q 200 -l 1 >/dev/null 2>&1 || true
done
for r in $(seq 1 "$rounds"); do
  echo "round $r of $rounds ($secs s each)"
  for name in nsd knot dermaga; do measure "$name"; done
done
declare -A MQPCS MQPS
echo
echo "median over $rounds rounds:"
for name in nsd knot dermaga; do
  MQPCS[$name]=$(echo "${QPCS[$name]}" | median)
  MQPS[$name]=$(echo "${QPS[$name]}" | median)
  printf '  %-8s queries/CPU-s %9s  qps %8s\n' "$name" "${MQPCS[$name]}" "${MQPS[$name]}"
done

best=${MQPCS[knot]}; best_name=knot
if [ "${MQPCS[nsd]}" -gt "$best" ]; then best=${MQPCS[nsd]}; best_name=nsd; fi
echo
awk -v d="${MQPCS[dermaga]}" -v b="$best" -v n="$best_name" -v dq="${MQPS[dermaga]}" -v nq="${MQPS[nsd]}" -v kq="${MQPS[knot]}" \
  -v dn="${MQPCS[nsd]}" -v dk="${MQPCS[knot]}" 'BEGIN {
  printf "queries per server CPU-second: dermaga/nsd %.2f  dermaga/knot %.2f  (vs the better, %s: %.2f)\n", d/dn, d/dk, n, d/b;
  printf "raw qps (dnsperf-bound on 2 cores): dermaga/nsd %.2f  dermaga/knot %.2f\n", dq/nq, dq/kq }'
