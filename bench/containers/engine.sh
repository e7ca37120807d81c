#!/usr/bin/env bash
# Container start-up, side by side on one busybox image: `podman run --rm` (runc, cgroupfs,
# --network none), raw `runc run` on a prepared bundle, and `dermaga run --rm IMAGE /bin/true`;
# then `exec` of /bin/true in a running container (podman exec vs dermaga exec).
# Prints the median wall time of each and the ratios. Needs root, podman, runc, busybox-static.
#
#   bench/containers/engine.sh [N]        N runs of each (default 30)
#   DERMAGA=path/to/dermaga               the binary (default target/release/dermaga)
#   DERMAGA_RUNTIME=/usr/sbin/runc        the runtime dermaga uses (default: its default)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-30}
DERMAGA=${DERMAGA:-target/release/dermaga}
[ "$(id -u)" -eq 0 ] || { echo "engine.sh: needs root" >&2; exit 1; }
for p in podman runc busybox; do
  command -v $p >/dev/null || [ -x /usr/sbin/$p ] || { echo "engine.sh: $p is missing" >&2; exit 1; }
done
[ -x "$DERMAGA" ] || { echo "engine.sh: build dermaga first: cargo build --release -p dermaga" >&2; exit 1; }

tmp=$(mktemp -d /tmp/dermaga-bench.XXXXXX)
cleanup() {
  "$DERMAGA" --root "$tmp/d" rm -f -a >/dev/null 2>&1 || true
  podman "${P[@]}" rm -f -a >/dev/null 2>&1 || true
  podman "${P[@]}" system reset -f >/dev/null 2>&1 || true
  umount -R "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# The image: busybox-static and its applets.
mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/etc" "$tmp/rootfs/proc" "$tmp/rootfs/sys" "$tmp/rootfs/dev" "$tmp/rootfs/tmp"
cp "$(command -v busybox)" "$tmp/rootfs/bin/busybox"
for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox "$tmp/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$tmp/rootfs/etc/passwd"
tar -C "$tmp/rootfs" -cf "$tmp/bb.tar" .

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
P=(--root "$tmp/p/root" --runroot "$tmp/p/run" --storage-driver overlay --runtime runc --cgroup-manager cgroupfs)
podman "${P[@]}" import -q "$tmp/bb.tar" localhost/bench:1 >/dev/null

# dermaga: its own store.
D=(--root "$tmp/d")
[ -n "${DERMAGA_RUNTIME:-}" ] && D+=(--runtime "$DERMAGA_RUNTIME")
if ! "$DERMAGA" "${D[@]}" import "$tmp/bb.tar" localhost/bench:1 >/dev/null 2>&1; then
  echo "engine.sh: dermaga import failed" >&2; exit 1
fi

# runc: a bundle of the same root file system.
mkdir -p "$tmp/bundle"
(cd "$tmp/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"\/bin\/true"/' config.json)
cp -a "$tmp/rootfs" "$tmp/bundle/rootfs"

# median of N wall times (ms) of a command
median() {
  local times=() i s e
  for ((i = 0; i < N; i++)); do
    s=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "engine.sh: failed: $*" >&2; exit 1; }; e=$(date +%s%N)
    times+=($(( (e - s) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.2f", m / 1000}'
}
k=0
runc_once() { k=$((k + 1)); runc --root "$tmp/runc" run -b "$tmp/bundle" "bench$k-$$"; }

# The machine is shared: say how busy it was.
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# Warm caches once each.
podman "${P[@]}" run --rm --network none localhost/bench:1 /bin/true
"$DERMAGA" "${D[@]}" run --rm localhost/bench:1 /bin/true
runc_once

pod=$(median podman "${P[@]}" run --rm --network none localhost/bench:1 /bin/true)
raw=$(median runc_once)
der=$(median "$DERMAGA" "${D[@]}" run --rm localhost/bench:1 /bin/true)

podman "${P[@]}" run -d --name ex --network none localhost/bench:1 sleep 1000 >/dev/null
"$DERMAGA" "${D[@]}" run -d --name ex localhost/bench:1 sleep 1000 >/dev/null
podx=$(median podman "${P[@]}" exec ex /bin/true)
derx=$(median "$DERMAGA" "${D[@]}" exec ex /bin/true)

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
