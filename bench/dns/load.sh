#!/usr/bin/env bash
# bench/dns/load.sh [RECORDS] [ROUNDS]: load time and peak memory of one large zone (default
# 1,000,000 records: A, AAAA, MX, TXT and CNAME in turn) in dermaga's start-up path (the
# load_zone example: zone file to served index, then exit) against nsd-checkzone, each run
# ROUNDS times (default 3) under /usr/bin/time -v. Prints every run's user+system CPU seconds,
# wall seconds and peak RSS; compare medians, and note the machine's load (printed).
set -euo pipefail
records=${1:-1000000}
rounds=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
for p in nsd-checkzone /usr/bin/time python3; do
  command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || { echo "bench/dns: $p is missing" >&2; exit 1; }
done
(cd "$root" && cargo build --release -p dermaga-dns --example load_zone)
work=$(mktemp -d /tmp/dermaga-bench-dns-load.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 - "$records" "$work/big.zone" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("$ORIGIN big.test.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n")
    for i in range(n - 3):
        k = i % 5
        if k == 0: f.write(f"h{i} A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
        elif k == 1: f.write(f"h{i} AAAA 2001:db8::{i >> 16:x}:{i & 0xffff:x}\n")
        elif k == 2: f.write(f"h{i} MX 10 h{i - 2}\n")
        elif k == 3: f.write(f'h{i} TXT "v=spf1 include:h{i}.big.test -all" "second string {i}"\n')
        else: f.write(f"h{i} CNAME h{i - 4}\n")
PY
measure() {
  local name=$1; shift
  for _ in $(seq "$rounds"); do
    /usr/bin/time -v "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
    awk -v n="$name" -F': ' '
      /User time/ {u=$2} /System time/ {s=$2} /Elapsed/ {e=$NF} /Maximum resident/ {r=$2}
      END {printf "%-8s cpu %.2f s  wall %s  peak RSS %d MB\n", n, u+s, e, r/1024}' "$work/out"
  done
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
measure nsd nsd-checkzone big.test "$work/big.zone"
measure dermaga "$root/target/release/examples/load_zone" "$work/big.zone"
