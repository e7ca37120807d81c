#!/usr/bin/env bash
# Containerfile builds: podman and dermaga side by side, in one run, on the same context.
#
#   bench/images/build.sh [RUNS]        (default 5; run as root, from anywhere)
#   DERMAGA_BIN=target/release/dermaga bench/images/build.sh   (skip the build)
#   PODMAN_NETWORK=private bench/images/build.sh   (podman's RUN network; default none)
#
# The reference Containerfile (written below) is multi-stage: a builder stage that copies a
# source tree from the context (/usr/share/doc, a few thousand files), processes it in three
# RUN steps (one deletes files: whiteouts), and a final stage that copies the results with
# --from, adds a gzip archive, sets ENV/WORKDIR/USER/LABEL/EXPOSE/ENTRYPOINT/CMD. The base is
# busybox-static, loaded into both stores from one `dermaga save` archive (not timed).
#
# Each run builds cold (a fresh store holding only the base image) and then fully cached (the
# same build again on that store). RUN steps use no network on both sides (dermaga's default;
# `--network none` for podman, whose default private network would add netavark's set-up).
# Prints the medians and dermaga's time as a fraction of podman's. Not a test: nothing is
# asserted.
set -euo pipefail
RUNS=${1:-5}
PODMAN_NETWORK=${PODMAN_NETWORK:-none}
cd "$(dirname "$0")/../.."
REPO=$(pwd)

for tool in podman busybox; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing (scripts/test.sh installs the peers)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "build.sh: run as root (RUN steps are containers)" >&2; exit 1; }

# Short: podman refuses a --runroot longer than 50 characters.
W=$(mktemp -d /var/tmp/dbb.XXXX)
cleanup() {
  grep " $W" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

# The sandbox may cap open files below podman's default ulimit: ask for what it allows.
cat > "$W/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
EOF
P() { CONTAINERS_CONF="$W/containers.conf" podman --root "$1/root" --runroot "$1/run" --storage-driver overlay "${@:2}"; }

if [ -n "${DERMAGA_BIN:-}" ]; then
  DERMAGA=$DERMAGA_BIN
else
  echo "== building dermaga (release)"
  cargo build --release -q -p dermaga
  DERMAGA="$REPO/target/release/dermaga"
fi
D() { "$DERMAGA" --root "$1/root" --runroot "$1/run" "${@:2}"; }
echo "dermaga: $DERMAGA"

echo "== making the base image and the context"
R="$W/rootfs"
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/proc" "$R/sys" "$R/dev" "$R/root"
cp /usr/bin/busybox "$R/bin/"
for a in $(/usr/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' > "$R/etc/group"
tar -C "$R" -cf "$W/rootfs.tar" .
D "$W/seed" import "$W/rootfs.tar" localhost/busybox:latest >/dev/null
D "$W/seed" save -o "$W/base.tar" localhost/busybox:latest

C="$W/ctx"
mkdir -p "$C/src" "$C/assets"
cp -a /usr/share/doc/. "$C/src/"
for i in $(seq 1 50); do head -c 20000 /dev/urandom | base64 > "$C/assets/asset-$i.txt"; done
tar -C "$C" -czf "$C/assets.tar.gz" assets
rm -rf "$C/assets"
cat > "$C/Containerfile" <<'EOF'
FROM localhost/busybox AS build
ARG FLAVOUR=release
WORKDIR /build
COPY src/ ./src/
RUN find src -type f -name '*.gz' -exec rm {} + && find src -type f | sort > manifest.txt
RUN tar -cf bundle.tar src && gzip -1 bundle.tar && wc -l manifest.txt > count.txt
RUN rm -rf src/a* && echo "$FLAVOUR" > flavour.txt

FROM localhost/busybox
ENV APP_HOME=/srv/app LANG=C.UTF-8
WORKDIR $APP_HOME
COPY --from=build /build/bundle.tar.gz /build/count.txt /build/flavour.txt ./
COPY --from=build /build/manifest.txt ./meta/
ADD assets.tar.gz /srv/
RUN mkdir -p /var/lib/app && chown app:app /var/lib/app
USER app
LABEL org.opencontainers.image.title=bench
EXPOSE 8080
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat count.txt"]
EOF
echo "context: $(du -sh "$C" | cut -f1) in $(find "$C" | wc -l) entries; base image $(du -sh "$W/base.tar" | cut -f1)"

# seconds (3 decimals) that "$@" takes; its standard output is dropped
timeit() {
  local s e
  s=$(date +%s%N)
  "$@" >/dev/null 2>&1
  e=$(date +%s%N)
  awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", (e - s) / 1e9 }'
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

: > "$W/p_cold"; : > "$W/p_hot"; : > "$W/d_cold"; : > "$W/d_hot"
for i in $(seq 1 "$RUNS"); do
  ps="$W/p$i"; ds="$W/d$i"
  P "$ps" load -q -i "$W/base.tar" >/dev/null
  D "$ds" load -q -i "$W/base.tar" >/dev/null
  # Interleaved, so both see the same machine load.
  timeit P "$ps" build --network "$PODMAN_NETWORK" -t bench "$C" >> "$W/p_cold"
  timeit D "$ds" build -t bench "$C" >> "$W/d_cold"
  timeit P "$ps" build --network "$PODMAN_NETWORK" -t bench "$C" >> "$W/p_hot"
  timeit D "$ds" build -t bench "$C" >> "$W/d_hot"
  # Both images work and say the same.
  po=$(P "$ps" run --rm --network none bench 2>/dev/null || true)
  do=$(D "$ds" run --rm bench 2>/dev/null || true)
  [ "$po" = "$do" ] || echo "warning: run output differs: podman '$po', dermaga '$do'" >&2
  P "$ps" rmi -a -f >/dev/null 2>&1 || true
  cleanup_store() { grep " $1" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true; rm -rf "$1"; }
  cleanup_store "$ps"; cleanup_store "$ds"
done

pc=$(median < "$W/p_cold"); dc=$(median < "$W/d_cold")
ph=$(median < "$W/p_hot"); dh=$(median < "$W/d_hot")
echo
echo "== medians of $RUNS runs (seconds); podman RUN network: $PODMAN_NETWORK"
printf '%-22s %10s %10s %8s\n' "" podman dermaga ratio
printf '%-22s %10s %10s %8s\n' "build, cold" "$pc" "$dc" "$(awk -v a="$dc" -v b="$pc" 'BEGIN{printf "%.3f", a/b}')"
printf '%-22s %10s %10s %8s\n' "build, fully cached" "$ph" "$dh" "$(awk -v a="$dh" -v b="$ph" 'BEGIN{printf "%.3f", a/b}')"
echo "(ratio = dermaga / podman; the target is <= 0.5)"
