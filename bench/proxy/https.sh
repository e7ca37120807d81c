#!/usr/bin/env bash
# HTTPS: haproxy (Debian's build, OpenSSL) and dermaga's proxy (rustls, aws-lc-rs) one after the
# other on the same configuration (nbthread 1), the same certificates and the same backend, the
# proxy pinned to core 0 and wrk plus the backend to core 1. Prints per scenario: requests per
# proxy CPU-second (utime+stime from /proc/PID/stat), the raw rate, p50/p99, and the ratios.
#
#   bench/proxy/https.sh [SECONDS]        (default 10 s per scenario and proxy)
#
# Scenarios:
#   handshake ECDSA   one request per connection (wrk, Connection: close): a full TLS 1.3
#                     handshake each time, ECDSA P-256 certificate
#   handshake RSA     the same with an RSA-2048 certificate
#   keep-alive        HTTPS keep-alive requests (ECDSA certificate; the handshakes are amortised)
# Full handshakes: tickets are off on both (`no-tls-tickets`) and haproxy's session cache too
# (`tune.ssl.cachesize 0`), so no connection resumes a session (TLS 1.3 resumes only by ticket).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
CONNS=${CONNS:-50}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "bench: openssl is missing (apt-get install openssl)" >&2; exit 1; }
[ -x "$HAPROXY" ] || { echo "bench: $HAPROXY is missing (apt-get install haproxy)" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release -q -p dermaga-proxy --bin dermaga-proxy --example bench_peer
TARGET=${CARGO_TARGET_DIR:-target}
DERMAGA=${DERMAGA:-$TARGET/release/dermaga-proxy}  # DERMAGA=path compares another build
PEER=$TARGET/release/examples/bench_peer
# shellcheck source=bench/proxy/lib.sh
. bench/proxy/lib.sh  # the scripts run from the repository root (cd above)

# The same certificates for both proxies: a bundle each (certificate then key), as haproxy reads.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench.test \
  -addext subjectAltName=DNS:bench.test -keyout "$TMP/ec.key" -out "$TMP/ec.crt" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench.test \
  -addext subjectAltName=DNS:bench.test -keyout "$TMP/rsa.key" -out "$TMP/rsa.crt" 2>/dev/null
cat "$TMP/ec.crt" "$TMP/ec.key" > "$TMP/ec.pem"
cat "$TMP/rsa.crt" "$TMP/rsa.key" > "$TMP/rsa.pem"

BE=$(port)
taskset -c 1 "$PEER" http-backend "$BE" & PIDS+=($!)


config() { # $1 = ECDSA port, $2 = RSA port, $3 = extra global line
  cat <<CFG
global
    nbthread 1
    maxconn 9000
    $3
    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe_ec
    bind 127.0.0.1:$1 ssl crt $TMP/ec.pem
    default_backend be
frontend fe_rsa
    bind 127.0.0.1:$2 ssl crt $TMP/rsa.pem
    default_backend be
backend be
    server s1 127.0.0.1:$BE
CFG
}

start_proxy() { # $1 = name, $2 = binary, $3 = extra global line; sets PROXY_PID, EP, RP
  EP=$(port); RP=$(port)
  config "$EP" "$RP" "$3" > "$TMP/$1.cfg"
  taskset -c 0 "$2" -db -f "$TMP/$1.cfg" >/dev/null 2>&1 &
  PROXY_PID=$!; PIDS+=($PROXY_PID)
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$RP) 2>/dev/null && break; sleep 0.05; done
}



declare -A R
for name in haproxy dermaga; do
  if [ $name = haproxy ]; then
    start_proxy haproxy "$HAPROXY" "tune.ssl.cachesize 0"
  else
    start_proxy dermaga "$DERMAGA" ""
  fi
  R[$name,hs_ec]=$(wrk_run "$PROXY_PID" -H "Connection: close" "https://127.0.0.1:$EP/")
  R[$name,hs_rsa]=$(wrk_run "$PROXY_PID" -H "Connection: close" "https://127.0.0.1:$RP/")
  R[$name,ka]=$(wrk_run "$PROXY_PID" "https://127.0.0.1:$EP/")
  kill "$PROXY_PID" 2>/dev/null || true
  wait "$PROXY_PID" 2>/dev/null || true
done

per_cpu() { awk -v r="$1" -v c="$2" -v s="$SECS" 'BEGIN{ if (c>0) printf "%.0f", r*s/c; else print "inf" }'; }

printf "\n%-22s %-8s %12s %12s %9s %9s %8s\n" scenario proxy "per-CPU-s" "raw/s" "p50 ms" "p99 ms" "cpu s"
for sc in hs_ec hs_rsa ka; do
  case $sc in
    hs_ec) label="handshake ECDSA P-256" ;;
    hs_rsa) label="handshake RSA-2048" ;;
    ka) label="HTTPS keep-alive" ;;
  esac
  for name in haproxy dermaga; do
    read -r rps p50 p99 cpu _ <<< "${R[$name,$sc]}"
    printf "%-22s %-8s %12s %12s %9s %9s %8s\n" "$label" $name "$(per_cpu "$rps" "$cpu")" "$rps" "$p50" "$p99" "$cpu"
  done
  read -r hr _ hp99 hc _ <<< "${R[haproxy,$sc]}"
  read -r dr _ dp99 dc _ <<< "${R[dermaga,$sc]}"
  printf "%-22s ratio dermaga/haproxy: per-CPU-s %s, raw %s, p99 %s\n" "" "$(ratio "$(per_cpu "$dr" "$dc")" "$(per_cpu "$hr" "$hc")")" "$(ratio "$dr" "$hr")" "$(ratio "$dp99" "$hp99")"
done
