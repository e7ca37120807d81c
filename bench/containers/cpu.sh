#!/usr/bin/env bash
# Busy CPU per `run --rm IMAGE /bin/true`, over both CPUs and every process (the command,
# the container's init, the remover that finishes after the command, the kernel's workers):
# /proc/stat's busy time before and after N runs back to back and a 0.5 s tail for deferred
# work, divided by N. Whatever else the machine runs meanwhile counts too, so the binaries
# alternate round by round (R rounds) and each gets its own store, as in ab.sh.
#
#   bench/containers/cpu.sh N R BINARY...
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:?usage: cpu.sh N ROUNDS BINARY...}
R=${2:?usage: cpu.sh N ROUNDS BINARY...}
shift 2
[ $# -ge 1 ] || { echo "cpu.sh: name at least one binary" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "cpu.sh: needs root" >&2; exit 1; }
BIN=("$@")

tmp=$(mktemp -d /tmp/dermaga-cpu.XXXXXX)
chattr +T "$tmp" 2>/dev/null || true
run=${tmp##*.}  # a name of this run's for each store (see `unique_dir` in lib.sh)
store() { echo "--root $tmp/s$1.$run --runroot $tmp/s$1.$run/run"; }
cleanup() {
  local i
  for i in "${!BIN[@]}"; do
    # shellcheck disable=SC2046
    "${BIN[$i]}" $(store "$i") system check >/dev/null 2>&1 || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=bench/containers/lib.sh
. bench/containers/lib.sh
busybox_image "$tmp"
import_bench_image cpu.sh

# busy jiffies (user nice system irq softirq steal) of all CPUs
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
hz=$(getconf CLK_TCK)
printf '%-6s' round
for b in "${BIN[@]}"; do printf ' %14s' "$(basename "$(dirname "$b")")"; done
echo "   (busy CPU per run, ms)"
for ((r = 0; r < R; r++)); do
  printf '%-6s' "$r"
  for i in "${!BIN[@]}"; do
    # shellcheck disable=SC2046
    args=($(store "$i") run --rm localhost/bench:1 /bin/true)
    b0=$(busy)
    for ((k = 0; k < N; k++)); do "${BIN[$i]}" "${args[@]}" >/dev/null 2>&1; done
    sleep 0.5
    b1=$(busy)
    printf ' %14s' "$(echo "scale=2; ($b1 - $b0) * 1000 / $hz / $N" | bc)"
  done
  echo
done
