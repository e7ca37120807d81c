# Shared by bench/proxy/*.sh (sourced, not run): a temporary directory and the processes to
# stop on exit, free loopback ports, a process's CPU ticks and resident memory, and one wrk
# run measured against a proxy's CPU time. Callers set SECS and CONNS before wrk_run.
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

to_ms() { # wrk latency ("1.23ms", "456.00us", "1.2s") to ms
  awk -v v="$1" 'BEGIN{ n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) ; else if (v ~ /s$/) n*=1000; printf "%.3f", n }'
}

# wrk_run PID WRK-ARGS... -> prints "rps p50 p99 cpu_s rss_kb" (wrk pinned to core 1)
wrk_run() {
  local pid=$1; shift
  local c0; c0=$(cpu_ticks "$pid")
  local out; out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "$@")
  local c1; c1=$(cpu_ticks "$pid")
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  p50=$(to_ms "$(echo "$out" | awk '$1=="50%"{print $2}')")
  p99=$(to_ms "$(echo "$out" | awk '$1=="99%"{print $2}')")
  local cpu; cpu=$(awk -v a="$c0" -v b="$c1" -v t="$ticks" 'BEGIN{printf "%.2f", (b-a)/t}')
  echo "$rps $p50 $p99 $cpu $(rss_kb "$pid")"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "-" }'; }

# The table of an h2load bench: rows of R[proxy,scenario] = "rps mean cpu done", N requests
# each. $1 = title of the last column, then pairs of scenario key and label.
h2load_table() {
  local last=$1; shift
  per_n() { awk -v n="$N" -v c="$1" 'BEGIN{ if (c>0) printf "%.0f", n/c; else print "inf" }'; }
  printf "\n%-10s %-8s %12s %12s %10s %8s %10s\n" scenario proxy "per-CPU-s" "raw/s" "mean" "cpu s" "$last"
  while [ $# -ge 2 ]; do
    local sc=$1 label=$2; shift 2
    for name in haproxy dermaga; do
      read -r rps mean cpu ok _ <<< "${R[$name,$sc]}"
      printf "%-10s %-8s %12s %12s %10s %8s %10s\n" "$label" $name "$(per_n "$cpu")" "$rps" "$mean" "$cpu" "$ok"
    done
    read -r hr _ hc _ <<< "${R[haproxy,$sc]}"
    read -r dr _ dc _ <<< "${R[dermaga,$sc]}"
    printf "%-10s ratio dermaga/haproxy: per-CPU-s %s, raw %s\n" "" "$(ratio "$(per_n "$dc")" "$(per_n "$hc")")" "$(ratio "$dr" "$hr")"
  done
}

# The global and defaults sections every HTTP bench configuration starts with (one thread,
# long timeouts); $1 = global maxconn (optional).
http_cfg_head() {
  printf 'global\n    nbthread 1\n'
  [ -n "${1:-}" ] && printf '    maxconn %s\n' "$1"
  printf 'defaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n'
}
