#!/usr/bin/env bash
# A/B of dermaga builds on `run --rm IMAGE /bin/true` (and `exec`): each binary gets its own
# store (same busybox image), and their runs alternate one by one, the order rotating each
# round, so that all see the same load. Prints each binary's median, minimum and quartiles.
# For comparing a change against the build before it; engine.sh is the issue's measure.
#
#   bench/containers/ab.sh N BINARY...      N runs of each (e.g. 30), BINARY a dermaga binary
#   AB_EXEC=1                               also `exec /bin/true` in a running container
#   AB_SHARED=1                             one store for all binaries (same schema): the
#                                           store's place on the disk, which moved medians by
#                                           up to 5 ms between stores in one run (session 8),
#                                           is then the same for all
#   AB_PAUSE=0.05                           seconds between runs (outside the timing): each
#                                           command then starts after the last one's deferred
#                                           work (its remover, the kernel's namespace
#                                           teardown) is done, as in engine.sh, instead of
#                                           competing with it for the CPUs
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:?usage: ab.sh N BINARY...}
shift
[ $# -ge 1 ] || { echo "ab.sh: name at least one binary" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "ab.sh: needs root" >&2; exit 1; }
command -v busybox >/dev/null || { echo "ab.sh: busybox is missing" >&2; exit 1; }
BIN=("$@")

tmp=$(mktemp -d /tmp/dermaga-ab.XXXXXX)
# Each store in a block group of its own, under a name of this run's (see engine.sh and
# `unique_dir` in lib.sh).
chattr +T "$tmp" 2>/dev/null || true
run=${tmp##*.}
store() {
  local s=$1
  [ -z "${AB_SHARED:-}" ] || s=0
  echo "--root $tmp/s$s.$run --runroot $tmp/s$s.$run/run"
}
cleanup() {
  local i
  for i in "${!BIN[@]}"; do
    # shellcheck disable=SC2046
    "${BIN[$i]}" $(store "$i") rm -f -a >/dev/null 2>&1 || true
  done
  umount -R "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=bench/containers/lib.sh
. bench/containers/lib.sh
busybox_image "$tmp"
import_bench_image ab.sh

declare -A T
# alternate VERB... over the binaries, N rounds; T[i] gets binary i's times (us)
alternate() {
  local n=${#BIN[@]} r j i s e args
  for i in "${!BIN[@]}"; do T[$i]=""; done
  for ((r = 0; r < N; r++)); do
    for ((j = 0; j < n; j++)); do
      i=$(( (r + j) % n ))
      # bash's clock, not `$(date)`: a forked `date` inside the interval adds milliseconds
      # (see engine.sh); the store's flags are expanded before the clock starts.
      args=($(store "$i") "$@")
      s=$EPOCHREALTIME
      "${BIN[$i]}" "${args[@]}" >/dev/null 2>&1 || { echo "ab.sh: failed: ${BIN[$i]} $*" >&2; exit 1; }
      e=$EPOCHREALTIME
      T[$i]+="$(( ${e//[.,]/} - ${s//[.,]/} )) "
      [ -z "${AB_PAUSE:-}" ] || sleep "$AB_PAUSE"
    done
  done
}
report() {
  local i
  for i in "${!BIN[@]}"; do
    printf '%s\n' ${T[$i]} | sort -n | awk -v b="${BIN[$i]}" '{a[NR]=$1} END {
      m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2
      printf "  %-40s median %6.2f  min %6.2f  q1 %6.2f  q3 %6.2f ms\n", b, m/1000, a[1]/1000, a[int(NR/4)+1]/1000, a[int(3*NR/4)+1]/1000 }'
  done
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
alternate run --rm localhost/bench:1 /bin/true
echo "run --rm /bin/true, $N alternating runs each${AB_PAUSE:+, $AB_PAUSE s apart}:"
report
if [ -n "${AB_EXEC:-}" ]; then
  for i in "${!BIN[@]}"; do
    # shellcheck disable=SC2046
    "${BIN[$i]}" $(store "$i") run -d --name ex localhost/bench:1 sleep 1000 >/dev/null
  done
  alternate exec ex /bin/true
  echo "exec /bin/true, $N alternating runs each:"
  report
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
