#!/usr/bin/env bash
# Benchmark: raw `runc run` against `dermaga runtime run` on the same busybox bundle
# (`/bin/true`, runc spec's namespaces: pid, net, ipc, uts, mount). Both runs are interleaved,
# one of each per round, so a noisy neighbour hits both alike. Prints medians and the ratio.
#
#   bench/containers/runtime.sh [ROUNDS]        (as root; default 200 rounds)
#
# DERMAGA=/path/to/dermaga picks the binary (default: target/release/dermaga, built if absent).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-200}
[ "$(id -u)" -eq 0 ] || { echo "runtime.sh: run as root" >&2; exit 1; }
command -v runc >/dev/null || { echo "runtime.sh: runc is needed (apt-get install runc)" >&2; exit 1; }
[ -x /usr/bin/busybox ] || { echo "runtime.sh: busybox-static is needed" >&2; exit 1; }
dermaga=${DERMAGA:-target/release/dermaga}
if [ ! -x "$dermaga" ]; then
  cargo build --release -p dermaga >&2
fi

work=$(mktemp -d /tmp/dermaga-bench-runtime.XXXXXX)
trap 'rm -rf "$work"' EXIT
bundle=$work/bundle
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/dev" "$bundle/rootfs/sys"
cp /usr/bin/busybox "$bundle/rootfs/bin/busybox"
for a in sh true; do ln -s busybox "$bundle/rootfs/bin/$a"; done
(cd "$bundle" && runc spec)
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"\/bin\/true"/; s/"sh"/"\/bin\/true"/' "$bundle/config.json"

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# Warm-up (page cache, seccomp cache for profiles that have one).
for i in 1 2 3 4 5; do
  runc --root "$work/runc" run -b "$bundle" warm >/dev/null
  "$dermaga" runtime --root "$work/dermaga" run -b "$bundle" warm >/dev/null
done

: >"$work/runc.ns"; : >"$work/dermaga.ns"
for i in $(seq 1 "$rounds"); do
  t0=$(now); runc --root "$work/runc" run -b "$bundle" b >/dev/null; t1=$(now)
  echo $((t1 - t0)) >>"$work/runc.ns"
  t0=$(now); "$dermaga" runtime --root "$work/dermaga" run -b "$bundle" b >/dev/null; t1=$(now)
  echo $((t1 - t0)) >>"$work/dermaga.ns"
done

r=$(median <"$work/runc.ns"); d=$(median <"$work/dermaga.ns")
# CPU time (task-clock of the command and its children), which a loaded machine distorts
# less than wall time; needs perf (Debian's linux-perf).
cpu() { perf stat -x, -e task-clock -r 20 "$@" 2>&1 >/dev/null | awk -F, '/task-clock/ {print $1}'; }
if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
  rc=$(cpu runc --root "$work/runc" run -b "$bundle" c)
  dc=$(cpu "$dermaga" runtime --root "$work/dermaga" run -b "$bundle" c)
fi
awk -v r="$r" -v d="$d" -v n="$rounds" -v rc="${rc:-}" -v dc="${dc:-}" 'BEGIN {
  printf "runtime run /bin/true, %d interleaved rounds, medians (wall):\n", n
  printf "  runc run             %8.2f ms\n", r / 1e6
  printf "  dermaga runtime run  %8.2f ms\n", d / 1e6
  printf "  ratio runc/dermaga   %8.2f x\n", r / d
  if (rc != "" && dc != "") {
    printf "CPU time per run (task-clock, mean of 20):\n"
    printf "  runc run             %8.2f ms\n", rc
    printf "  dermaga runtime run  %8.2f ms\n", dc
    printf "  ratio runc/dermaga   %8.2f x\n", rc / dc
  }
}'
