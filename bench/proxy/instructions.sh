#!/usr/bin/env bash
# User-space instructions per request, haproxy against dermaga, counted by valgrind's callgrind:
# the one proxy figure this shared 2-core machine does not blur (CPU time moves by 20 % with the
# neighbours' load; an instruction count moves by less than 1 %). It leaves out the kernel,
# which is most of a proxy's time, so it measures the proxy's own code and nothing else.
#
#   bench/proxy/instructions.sh [REQUESTS]      (default 20,000 per scenario and proxy)
#
# Scenarios, each after 2,000 requests of warm-up outside the count:
#   h1   HTTP/1.1 keep-alive, h2load --h1 -c 50 (wrk's load in run.sh)
#   h2c  HTTP/2 by prior knowledge, h2load -c 10 -m 10 (h2.sh's load)
#   h1h2 HTTP/1.1 clients (h2load --h1 -c 10) to `server ... proto h2` (h2-servers.sh)
#   h2h2 HTTP/2 clients (h2load -c 10 -m 10) to `server ... proto h2` (h2-servers.sh)
#   h2tls HTTP/2 over TLS 1.3 (ECDSA P-256, ALPN h2), h2load -c 10 -m 10 (h2.sh's TLS load)
# Same configuration (nbthread 1) and the same backends (bench_peer: HTTP/1.1 for h1 and
# h2c, cleartext HTTP/2 for h1h2 and h2h2) for both.
#
#   SCENARIOS="h2h2" bench/proxy/instructions.sh     runs only those; KEEP=DIR keeps the
#   callgrind files there (for callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-20000}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
for t in valgrind callgrind_control h2load; do
  command -v $t >/dev/null || { echo "bench: $t is missing (apt-get install valgrind nghttp2-client)" >&2; exit 1; }
done
[ -x "$HAPROXY" ] || { echo "bench: $HAPROXY is missing (apt-get install haproxy)" >&2; exit 1; }

cargo build --release -q -p dermaga-proxy --bin dermaga-proxy --example bench_peer
TARGET=${CARGO_TARGET_DIR:-target}
DERMAGA=${DERMAGA:-$TARGET/release/dermaga-proxy}  # DERMAGA=path compares another build
PEER=$TARGET/release/examples/bench_peer
# shellcheck source=bench/proxy/lib.sh
. bench/proxy/lib.sh

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench.test \
  -addext subjectAltName=DNS:bench.test -keyout "$TMP/ec.key" -out "$TMP/ec.crt" 2>/dev/null
cat "$TMP/ec.crt" "$TMP/ec.key" > "$TMP/ec.pem"

BE=$(port)
"$PEER" http-backend "$BE" & PIDS+=($!)
BE2=$(port)
"$PEER" h2-backend "$BE2" & PIDS+=($!)

# count NAME BINARY SCENARIO H2LOAD-ARGS... -> instructions per request
count() {
  local name=$1 bin=$2 sc=$3; shift 3
  local p; p=$(port)
  local server="127.0.0.1:$BE" ssl="" scheme=http
  case $sc in h1h2 | h2h2) server="127.0.0.1:$BE2 proto h2" ;; esac
  case $sc in h2tls) ssl=" ssl crt $TMP/ec.pem alpn h2,http/1.1" scheme=https ;; esac
  { http_cfg_head; cat <<CFG
frontend fe
    bind 127.0.0.1:$p$ssl
    default_backend be
backend be
    server s1 $server
CFG
  } > "$TMP/$name.cfg"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$TMP/cg.$name.$sc.%p" \
    "$bin" -db -f "$TMP/$name.cfg" >/dev/null 2>"$TMP/vg.$name.$sc.err" &
  PIDS+=($!)
  for _ in $(seq 300); do (echo > /dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
  # The tool's own process id (valgrind's launcher script may fork it off).
  local vp; vp=$(callgrind_control | awk -v c="$TMP/$name.cfg" 'index($0, c) { sub(":", "", $2); print $2; exit }')
  [ -n "$vp" ] || { echo "bench: callgrind did not start for $name" >&2; exit 1; }
  h2load "$@" -n 2000 "$scheme://127.0.0.1:$p/" >/dev/null
  callgrind_control -i on "$vp" >/dev/null 2>&1
  # Answers that succeeded; for HTTP/1.1 clients of HTTP/2 servers, answers received
  # (h2load --h1 counts no success for a status line without a reason phrase).
  local field=8; [ "$sc" = h1h2 ] && field=6
  local done; done=$(h2load "$@" -n "$N" "$scheme://127.0.0.1:$p/" | awk -v f=$field '/^requests:/{print $f}')
  callgrind_control -i off "$vp" >/dev/null 2>&1
  callgrind_control -d "$vp" >/dev/null 2>&1
  kill "$vp"; while kill -0 "$vp" 2>/dev/null; do sleep 0.1; done
  [ "$done" = "$N" ] || { echo "bench: $name $sc: $done of $N requests succeeded" >&2; exit 1; }
  local ir; ir=$(cat "$TMP"/cg."$name.$sc".*.1 | awk '/^summary:|^totals:/{print $2}' | sort -n | tail -1)
  [ -n "${KEEP:-}" ] && cp "$TMP"/cg."$name.$sc".*.1 "$KEEP/"
  echo $(( ir / N ))
}

printf "%-6s %12s %12s %8s\n" scenario haproxy dermaga "d/h"
for sc in ${SCENARIOS:-h1 h2c h1h2 h2h2 h2tls}; do
  case $sc in
    h1) args=(--h1 -c 50) ;;
    h1h2) args=(--h1 -c 10) ;;
    *) args=(-c 10 -m 10) ;;
  esac
  h=$(count haproxy "$HAPROXY" $sc "${args[@]}")
  d=$(count dermaga "$DERMAGA" $sc "${args[@]}")
  printf "%-6s %12s %12s %8s\n" $sc "$h" "$d" "$(ratio "$d" "$h")"
done
echo "(user-space instructions per request; lower is better; $N requests each)"
