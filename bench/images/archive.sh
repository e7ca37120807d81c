#!/usr/bin/env bash
# Archive load/save: podman and dermaga side by side, in one run, on the same archives.
#
#   bench/images/archive.sh [RUNS]        (default 5; run as root, from anywhere)
#   DERMAGA_BIN=target/release/dermaga bench/images/archive.sh   (skip the build)
#
# The image: one layer holding busybox, /usr/share/doc and Debian's Python 3.11 standard
# library when present (about 180 MB, several thousand files), imported by podman and saved by
# podman as a docker-archive
# (uncompressed layers) and an oci-archive (gzip layers). Each run loads into a fresh store
# (podman: overlay driver, its default; dermaga: its own store) and saves back to a file.
# Prints the median of each and dermaga's time as a fraction of podman's. Not a test: nothing
# is asserted.
#
# dermaga is target/release/dermaga (built if missing); while the binary does not dispatch the
# image verbs yet, the library's `imgtool` example stands in for it, and the script says so.
set -euo pipefail
RUNS=${1:-5}
cd "$(dirname "$0")/../.."
REPO=$(pwd)

for tool in podman busybox; do
  command -v "$tool" >/dev/null || { echo "archive.sh: $tool is missing (scripts/test.sh installs the peers)" >&2; exit 1; }
done

# Short: podman refuses a --runroot longer than 50 characters.
W=$(mktemp -d /var/tmp/dbi.XXXX)
cleanup() {
  # podman's overlay store may hold mounts; unmount before removing.
  grep " $W" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

P() { podman --root "$1/root" --runroot "$1/run" --storage-driver overlay --events-backend none "${@:2}"; }

if [ -n "${DERMAGA_BIN:-}" ]; then
  DERMAGA=$DERMAGA_BIN # a binary already built (DERMAGA_BIN=target/release/dermaga ...)
else
  echo "== building dermaga (release)"
  cargo build --release -q -p dermaga
  DERMAGA="$REPO/target/release/dermaga"
fi
mkdir -p "$W/probe"
if "$DERMAGA" --root "$W/probe" images >/dev/null 2>&1; then
  d_load() { "$DERMAGA" --root "$1" load -i "$2" >/dev/null; }
  d_save() { "$DERMAGA" --root "$1" save --format "$3" -o "$2" bench >/dev/null; }
  echo "dermaga: $DERMAGA"
else
  cargo build --release -q -p dermaga-image --example imgtool
  IMGTOOL="$REPO/target/release/examples/imgtool"
  d_load() { "$IMGTOOL" "$1" load "$2" >/dev/null; }
  d_save() { "$IMGTOOL" "$1" save "$3" "$2" bench >/dev/null; }
  echo "dermaga: the binary does not dispatch image verbs yet; timing the library through $IMGTOOL"
fi

echo "== making the image"
R="$W/rootfs"
mkdir -p "$R/bin" "$R/usr/lib" "$R/usr/share"
cp /usr/bin/busybox "$R/bin/"
for a in sh ls cat; do ln -s busybox "$R/bin/$a"; done
if [ -d /usr/lib/python3.11 ]; then cp -a /usr/lib/python3.11 "$R/usr/lib/"; fi
cp -a /usr/share/doc "$R/usr/share/"
tar -C "$R" -cf "$W/rootfs.tar" .
P "$W/src" import -q "$W/rootfs.tar" bench >/dev/null
P "$W/src" save -q --format docker-archive -o "$W/docker.tar" localhost/bench:latest
P "$W/src" save -q --format oci-archive -o "$W/oci.tar" localhost/bench:latest
echo "image: $(du -sh "$W/rootfs.tar" | cut -f1) in $(tar -tf "$W/rootfs.tar" | wc -l) entries; docker-archive $(du -sh "$W/docker.tar" | cut -f1), oci-archive $(du -sh "$W/oci.tar" | cut -f1)"

# seconds (3 decimals) that "$@" takes; its standard output is dropped
timeit() {
  local s e
  s=$(date +%s%N)
  "$@" >/dev/null
  e=$(date +%s%N)
  awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", (e - s) / 1e9 }'
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

declare -A T
for run in $(seq 1 "$RUNS"); do
  for fmt in docker-archive oci-archive; do
    src="$W/docker.tar"; [ "$fmt" = oci-archive ] && src="$W/oci.tar"
    tag="$run${fmt:0:1}"
    sync
    T["podman load $fmt"]+="$(timeit P "$W/p$tag" load -q -i "$src") "
    sync
    T["dermaga load $fmt"]+="$(timeit d_load "$W/d$tag" "$src") "
    sync
    T["podman save $fmt"]+="$(timeit P "$W/p$tag" save -q --format "$fmt" -o "$W/p-out.tar" localhost/bench:latest) "
    sync
    T["dermaga save $fmt"]+="$(timeit d_save "$W/d$tag" "$W/d-out.tar" "$fmt") "
    rm -f "$W/p-out.tar" "$W/d-out.tar"
    grep " $W/p$tag" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$W/p$tag" "$W/d$tag"
  done
done

echo
printf "%-28s %10s %10s %8s\n" "operation ($RUNS runs)" "podman s" "dermaga s" "ratio"
for op in "load docker-archive" "load oci-archive" "save docker-archive" "save oci-archive"; do
  p=$(echo "${T["podman $op"]}" | tr ' ' '\n' | grep -v '^$' | median)
  d=$(echo "${T["dermaga $op"]}" | tr ' ' '\n' | grep -v '^$' | median)
  r=$(awk -v d="$d" -v p="$p" 'BEGIN { printf "%.2f", d / p }')
  printf "%-28s %10s %10s %8s\n" "$op" "$p" "$d" "${r}x"
done
echo "(ratio = dermaga's median time / podman's; below 1 is faster)"
