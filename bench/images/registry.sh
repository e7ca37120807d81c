#!/usr/bin/env bash
# Registry push and pull: skopeo and dermaga side by side, in one run, through one loopback
# docker-registry (plain HTTP), on the same 100 MB single-layer image (incompressible data,
# gzip layer, so neither side compresses on the way).
#
#   DERMAGA_BIN=target/release/dermaga bench/images/registry.sh [RUNS]   (default 3; as root)
#
# Each run pushes into a fresh repository (no blob exists there yet, and no mount source is
# named; skopeo gets an empty blob-info cache so it cannot mount from an earlier push either)
# and pulls into a fresh store. dermaga's pull includes extracting the layer into its
# store; skopeo's copies to an `oci:` directory without extracting, so the pull ratio favours
# skopeo. Prints medians and dermaga's throughput as a multiple of skopeo's. Nothing asserted.
set -euo pipefail
RUNS=${1:-3}
cd "$(dirname "$0")/../.."
DERMAGA=${DERMAGA_BIN:-target/release/dermaga}
for tool in skopeo docker-registry python3; do
  command -v "$tool" >/dev/null || { echo "registry.sh: $tool is missing (scripts/test.sh installs the peers)" >&2; exit 1; }
done
[ -x "$DERMAGA" ] || { echo "registry.sh: $DERMAGA not built (cargo build --release -p dermaga)" >&2; exit 1; }
PROBE=$("$DERMAGA" --root /nonexistent-dermaga-probe push 2>&1 || true)
if grep -q "not implemented" <<<"$PROBE"; then
  echo "registry.sh: this dermaga does not dispatch push/pull yet (registry_cmd is not wired)" >&2; exit 1
fi

W=$(mktemp -d /var/tmp/dbr.XXXX)
REG_PID=
cleanup() { [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDR=127.0.0.1:$PORT
mkdir -p "$W/storage"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' "$W/storage" "$ADDR" > "$W/registry.yml"
docker-registry serve "$W/registry.yml" > "$W/registry.log" 2>&1 & REG_PID=$!
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

echo "== making a 100 MB image"
mkdir -p "$W/rootfs"
head -c $((100 * 1024 * 1024)) /dev/urandom > "$W/rootfs/big.bin"
tar -C "$W/rootfs" -cf - . | gzip -1 > "$W/big.tar.gz"
"$DERMAGA" --root "$W/src" import -q "$W/big.tar.gz" big >/dev/null
"$DERMAGA" --root "$W/src" save -q --format oci-archive -o "$W/big.oci.tar" big
MB=$(python3 -c "import os; print(os.path.getsize('$W/big.tar.gz') / 1e6)")

# skopeo remembers where it has pushed a digest before (its blob-info cache, for root under
# /var/lib/containers/cache) and mounts it across repositories instead of uploading: each
# skopeo run gets an empty cache of its own (a private tmpfs over that directory), so both
# tools upload every byte.
fresh_cache() {
  unshare -m sh -c 'mkdir -p /var/lib/containers/cache && mount -t tmpfs tmpfs /var/lib/containers/cache && exec "$@"' fresh_cache "$@"
}
t() { local s; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; python3 -c "import time; print(time.time() - $s)"; }
declare -a DP SP DL SL
for i in $(seq "$RUNS"); do
  DP+=("$(t "$DERMAGA" --root "$W/src" push -q --tls-verify=false big "$ADDR/d$i/big:1")")
  SP+=("$(t fresh_cache skopeo copy -q --dest-tls-verify=false "oci-archive:$W/big.oci.tar" "docker://$ADDR/s$i/big:1")")
  DL+=("$(t "$DERMAGA" --root "$W/pull$i" pull -q --tls-verify=false "$ADDR/s$i/big:1")")
  SL+=("$(t fresh_cache skopeo copy -q --src-tls-verify=false "docker://$ADDR/d$i/big:1" "oci:$W/oci$i:x")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
python3 - "$MB" "$(median "${DP[@]}")" "$(median "${SP[@]}")" "$(median "${DL[@]}")" "$(median "${SL[@]}")" <<'PY'
import sys
mb, dp, sp, dl, sl = map(float, sys.argv[1:])
print(f"layer blob {mb:.1f} MB, medians of runs")
print(f"push  dermaga {dp:.2f}s ({mb/dp:.0f} MB/s)  skopeo {sp:.2f}s ({mb/sp:.0f} MB/s)  dermaga/skopeo throughput {sp/dp:.2f}x")
print(f"pull  dermaga {dl:.2f}s ({mb/dl:.0f} MB/s, extracted)  skopeo {sl:.2f}s ({mb/sl:.0f} MB/s, oci: dir)  dermaga/skopeo throughput {sl/dl:.2f}x")
PY
