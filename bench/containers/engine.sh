#!/usr/bin/env bash
# Container start-up, side by side on one busybox image: `podman run --rm` (runc, cgroupfs,
# --network none), raw `runc run` on a prepared bundle, and `dermaga run --rm IMAGE /bin/true`;
# then `exec` of /bin/true in a running container (podman exec vs dermaga exec).
# Prints the median wall time of each and the ratios; the commands compared run interleaved
# (see `interleaved`). Needs root, podman, runc, busybox-static.
#
#   bench/containers/engine.sh [N]        N runs of each (default 30)
#   DERMAGA=path/to/dermaga               the binary (default target/release/dermaga)
#   DERMAGA_RUNTIME=/usr/sbin/runc        the runtime dermaga uses (default: its default)
#   ENGINE_TIMES=1                        also print every `dermaga run --rm` time (us), in order
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-30}
DERMAGA=${DERMAGA:-target/release/dermaga}
[ "$(id -u)" -eq 0 ] || { echo "engine.sh: needs root" >&2; exit 1; }
[ -n "${EPOCHREALTIME:-}" ] || { echo "engine.sh: needs bash 5 (\$EPOCHREALTIME)" >&2; exit 1; }
for p in podman runc busybox; do
  command -v $p >/dev/null || [ -x /usr/sbin/$p ] || { echo "engine.sh: $p is missing" >&2; exit 1; }
done
[ -x "$DERMAGA" ] || { echo "engine.sh: build dermaga first: cargo build --release -p dermaga" >&2; exit 1; }

tmp=$(mktemp -d /tmp/dermaga-bench.XXXXXX)
# Each tool's store in a block group of its own (ext4's "top directory" flag spreads the
# directories made under $tmp across groups). On an ext4 without a journal (this machine's),
# a new inode skips every free inode of its group deleted in the last 60 s (300 s while the
# inode table is unwritten), one buffer lookup each: in a group with 3,000 fresh deletions a
# mkdir took 0.4-0.9 ms instead of 25 us and `dermaga run --rm` 36 instead of 22 ms, so a
# store in /tmp's group paid for whatever else (tests, another tool) deleted files near it.
# The directories under $tmp get random names (`unique_dir`, which says why). No effect on
# other file systems.
chattr +T "$tmp" 2>/dev/null || true
# shellcheck source=bench/containers/lib.sh
. bench/containers/lib.sh
# dermaga's store, and its run root beside it as podman's is ($pstore/run): not under /run,
# which every test's containers churn on this machine (an ext4 file system here).
dstore=$(unique_dir d)
D=(--root "$dstore" --runroot "$dstore/run")
P=()
cleanup() {
  "$DERMAGA" "${D[@]}" rm -f -a >/dev/null 2>&1 || true
  [ ${#P[@]} -eq 0 ] || podman "${P[@]}" rm -f -a >/dev/null 2>&1 || true
  [ ${#P[@]} -eq 0 ] || podman "${P[@]}" system reset -f >/dev/null 2>&1 || true
  umount -R "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# The image: busybox-static and its applets.
img=$(unique_dir img)
busybox_image "$img"

# podman: its own store, runc, cgroupfs, and ulimits this sandbox can grant (its defaults
# raise hard limits, which needs CAP_SYS_RESOURCE).
nofile=$(ulimit -Hn)
mkdir -p "$tmp/conf"
cat > "$tmp/conf/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
CONF
export CONTAINERS_CONF="$tmp/conf/containers.conf"
pstore=$(unique_dir p)
P=(--root "$pstore/root" --runroot "$pstore/run" --storage-driver overlay --runtime runc --cgroup-manager cgroupfs)
podman "${P[@]}" import -q "$img/bb.tar" localhost/bench:1 >/dev/null

# dermaga: its own store.
[ -n "${DERMAGA_RUNTIME:-}" ] && D+=(--runtime "$DERMAGA_RUNTIME")
if ! "$DERMAGA" "${D[@]}" import "$img/bb.tar" localhost/bench:1 >/dev/null 2>&1; then
  echo "engine.sh: dermaga import failed" >&2; exit 1
fi

# runc: a bundle of the same root file system.
bundle=$(unique_dir bundle)
runc_root=$(unique_dir runc)
(cd "$bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"\/bin\/true"/' config.json)
cp -a "$img/rootfs" "$bundle/rootfs"

# N wall times (ms) of each command named (functions), interleaved: one of each per round,
# the order rotating from round to round. The machine is shared and its load moves within a
# minute, and each tool leaves the kernel work behind (namespaces, cgroups and files torn
# down after it returns): in sections, one after the other, each tool was measured in
# another stretch of time, and each behind whichever came before it. Interleaved, all see
# the same background and none always follows the same other. Sets T[name] to the times.
# The clock is bash's own ($EPOCHREALTIME, microseconds): `$(date +%s%N)` forked and exec'd
# a `date` inside each interval, 1.7-6 ms on this VM (a `/bin/true` timed that way: 3.1-7.8
# ms, with $EPOCHREALTIME 1.4 ms), added to every tool's figure.
declare -A T
interleaved() {
  local fns=("$@") n=$# i j f s e
  for f in "${fns[@]}"; do T[$f]=""; done
  for ((i = 0; i < N; i++)); do
    for ((j = 0; j < n; j++)); do
      f=${fns[(i + j) % n]}
      s=$EPOCHREALTIME; "$f" >/dev/null 2>&1 || { echo "engine.sh: failed: $f" >&2; exit 1; }; e=$EPOCHREALTIME
      T[$f]+="$(( ${e//[.,]/} - ${s//[.,]/} )) "
    done
  done
}
# the median (ms) of a command's times
median() {
  printf '%s\n' ${T[$1]} | sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.2f", m / 1000}'
}
k=0
runc_once() { k=$((k + 1)); runc --root "$runc_root" run -b "$bundle" "bench$k-$$"; }
podman_once() { podman "${P[@]}" run --rm --network none localhost/bench:1 /bin/true; }
dermaga_once() { "$DERMAGA" "${D[@]}" run --rm localhost/bench:1 /bin/true; }
podman_exec() { podman "${P[@]}" exec ex /bin/true; }
dermaga_exec() { "$DERMAGA" "${D[@]}" exec ex /bin/true; }

# The machine is shared: say how busy it was.
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# Warm caches once each.
podman_once
dermaga_once
runc_once

interleaved podman_once runc_once dermaga_once
pod=$(median podman_once) raw=$(median runc_once) der=$(median dermaga_once)
[ -z "${ENGINE_TIMES:-}" ] || echo "dermaga run --rm times (us): ${T[dermaga_once]}" >&2

podman "${P[@]}" run -d --name ex --network none localhost/bench:1 sleep 1000 >/dev/null
"$DERMAGA" "${D[@]}" run -d --name ex localhost/bench:1 sleep 1000 >/dev/null
interleaved podman_exec dermaga_exec
podx=$(median podman_exec) derx=$(median dermaga_exec)

# Private memory of the monitors (conmon vs dermaga's), side by side.
priv() { awk '/^Private_(Clean|Dirty)/ {s += $2} END {print s}' "/proc/$1/smaps_rollup"; }
conmon_pid=$(podman "${P[@]}" inspect -f '{{.State.ConmonPid}}' ex)
mon_pid=$("$DERMAGA" "${D[@]}" inspect -f '{{.State.ConmonPid}}' ex)
conmon_kb=$(priv "$conmon_pid"); mon_kb=$(priv "$mon_pid")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
echo "load average at start: $load_start; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "container start-up, median of $N runs (ms), busybox image, /bin/true:"
printf '  %-52s %8s\n' "podman run --rm (runc, cgroupfs, --network none)" "$pod"
printf '  %-52s %8s\n' "runc run (prepared bundle)" "$raw"
printf '  %-52s %8s\n' "dermaga run --rm" "$der"
echo "  podman / dermaga: $(ratio "$pod" "$der")x    runc run / dermaga: $(ratio "$raw" "$der")x"
echo "exec of /bin/true in a running container, median (ms):"
printf '  %-52s %8s\n' "podman exec" "$podx"
printf '  %-52s %8s\n' "dermaga exec" "$derx"
echo "  podman / dermaga: $(ratio "$podx" "$derx")x"
echo "monitor private memory (Private_* of smaps_rollup, kB): conmon $conmon_kb, dermaga $mon_kb"
