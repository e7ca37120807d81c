#!/usr/bin/env bash
# Writes link/hot-functions.txt: the functions the benchmarked paths run, hottest first, which
# the linker places together at the start of the executables' code (see the build scripts of
# crates/dermaga and crates/proxy, and docs/decisions.md, "hot functions first").
#
# The paths: the proxy under h2load (HTTP/2 in cleartext and over TLS, HTTP/1.1 keep-alive;
# sampled, heaviest first), then `dermaga run --rm` and `exec` of /bin/true (every function
# sampled or seen faulting its page in, in the order of their samples). Run it after a change
# that renames or adds functions on those paths; a stale list costs speed, never correctness
# (names the linker does not find are skipped).
#
#   bench/hot-functions.sh [RUNS]     RUNS of `run --rm` sampled (default 200)
#
# Needs root, perf (linux-perf), h2load, busybox-static; the release build it makes.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-200}
[ "$(id -u)" -eq 0 ] || { echo "hot-functions.sh: needs root" >&2; exit 1; }
for p in perf h2load busybox openssl; do
  command -v $p >/dev/null || { echo "hot-functions.sh: $p is missing" >&2; exit 1; }
done
# Each binary built as the benchmarks build it: `dermaga` alone (the container benchmarks,
# and users), `dermaga-proxy` with the proxy benchmarks' backend (an example, whose
# dev-dependencies change the features its libraries are built with, and so the hashes in
# their functions' names).
cargo build --release -q -p dermaga
cargo build --release -q -p dermaga-proxy --bin dermaga-proxy --example bench_peer
TARGET=${CARGO_TARGET_DIR:-target}
PROXY=$TARGET/release/dermaga-proxy
DERMAGA=$TARGET/release/dermaga
PEER=$TARGET/release/examples/bench_peer
# shellcheck source=bench/proxy/lib.sh
. bench/proxy/lib.sh # $TMP, PIDS, port, http_cfg_head

# Mangled names of the functions of binary $1 in perf data $2, most samples first.
functions_of() {
  perf report -i "$2" --no-children --no-demangle --sort sym -q -g none --dsos "$(basename "$1")" \
    2>/dev/null | awk '$2 == "[.]" {print $3}'
}

# The proxy, pinned to core 0, load and backend on core 1 (as bench/proxy/h2.sh).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench.test \
  -addext subjectAltName=DNS:bench.test -keyout "$TMP/ec.key" -out "$TMP/ec.crt" 2>/dev/null
cat "$TMP/ec.crt" "$TMP/ec.key" > "$TMP/ec.pem"
BE=$(port) CP=$(port) TP=$(port)
taskset -c 1 "$PEER" http-backend "$BE" & PIDS+=($!)
{ http_cfg_head 9000; cat <<CFG
frontend fe
    bind 127.0.0.1:$CP
    bind 127.0.0.1:$TP ssl crt $TMP/ec.pem alpn h2,http/1.1
    default_backend be
backend be
    server s1 127.0.0.1:$BE
CFG
} > "$TMP/p.cfg"
taskset -c 0 "$PROXY" -db -f "$TMP/p.cfg" >/dev/null 2>&1 & pid=$!; PIDS+=($pid)
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$TP) 2>/dev/null && break; sleep 0.05; done
taskset -c 1 h2load -n 20000 -c 10 -m 10 "http://127.0.0.1:$CP/" >/dev/null
perf record -q -F 20000 -p "$pid" -o "$TMP/proxy.data" -- sh -c "
  taskset -c 1 h2load -n 200000 -c 10 -m 10 http://127.0.0.1:$CP/ >/dev/null
  taskset -c 1 h2load -n 200000 -c 10 -m 10 https://127.0.0.1:$TP/ >/dev/null
  taskset -c 1 h2load --h1 -n 200000 -c 50 http://127.0.0.1:$CP/ >/dev/null"
kill "$pid"

# `run --rm` and `exec`: samples, and the first touch of each page of code (a fault), which
# finds the functions that run once, too quick to be sampled.
tmp=$(mktemp -d /tmp/dermaga-hot.XXXXXX)
D=("$DERMAGA" --root "$tmp/store" --runroot "$tmp/store/run")
# On any exit: the proxy and backend (lib.sh's cleanup), then the container and its store.
cleanup_all() {
  cleanup
  "${D[@]}" rm -f -a >/dev/null 2>&1 || true
  umount -R "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup_all EXIT
# shellcheck source=bench/containers/lib.sh
. bench/containers/lib.sh
busybox_image "$tmp/img"
"${D[@]}" import "$tmp/img/bb.tar" localhost/hot:1 >/dev/null
"${D[@]}" run -d --name ex localhost/hot:1 sleep 1000 >/dev/null
perf record -q -F 20000 -a -e cpu-clock -e exceptions:page_fault_user -o "$TMP/engine.data" -- sh -c "
  for i in \$(seq $RUNS); do
    ${D[*]} run --rm localhost/hot:1 /bin/true
    ${D[*]} exec ex /bin/true
  done" >/dev/null 2>&1

# A function seen in one binary is listed under its name in the other one too: the names
# of Rust functions end in a hash of their crate's build (features included), which differs
# between the two executables for the libraries they share. (Only a name that is unique
# without its hash: generic code such as `FnOnce::call_once` has many instances.)
nm "$PROXY" | awk '$2 ~ /^[tT]$/ {print $3}' | sort -u > "$TMP/proxy.syms"
nm "$DERMAGA" | awk '$2 ~ /^[tT]$/ {print $3}' | sort -u > "$TMP/dermaga.syms"
mkdir -p link
{
  echo "# Written by bench/hot-functions.sh on $(date -u +%F): the proxy's hot functions, then"
  echo "# those of \`dermaga run --rm\` and \`exec\`. The linker lays them out first, in this order."
  {
    functions_of "$PROXY" "$TMP/proxy.data"
    functions_of "$DERMAGA" "$TMP/engine.data"
    perf script -i "$TMP/engine.data" -F sym --no-demangle --dsos dermaga 2>/dev/null |
      awk 'NF == 1 && $1 != "[unknown]" {print $1}'
  } | awk '!seen[$0]++' | python3 -c '
import re, sys
def strip(s):
    return re.sub(r"17h[0-9a-f]{16}E$", "", s)
maps = []
for path in sys.argv[1:]:
    m = {}
    for s in open(path).read().split():
        m.setdefault(strip(s), []).append(s)
    maps.append(m)
done = set()
for s in sys.stdin.read().split():
    names = [s] + [m[strip(s)][0] for m in maps if len(m.get(strip(s), [])) == 1]
    for n in names:
        if n not in done:
            done.add(n)
            print(n)
' "$TMP/proxy.syms" "$TMP/dermaga.syms"
} > link/hot-functions.txt
echo "hot-functions.sh: $(grep -vc '^#' link/hot-functions.txt) functions in link/hot-functions.txt"
