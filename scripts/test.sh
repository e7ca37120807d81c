#!/usr/bin/env bash
# Installs what the tests need (Debian packages, as root) and runs every test of the workspace.
# CI calls this through .ci/run; developers run it as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real peers the tests use as references and clients. Each entry: a command that proves the
# package is present, then the package that provides it.
peers=(
  "haproxy haproxy"
  "nsd nsd"
  "knotd knot"
  "kdig knot-dnsutils"
  "dig bind9-dnsutils"
  "dnsperf dnsperf"
  "wrk wrk"
  "curl curl"
  "h2load nghttp2-client"
  "busybox busybox-static"
  "runc runc"
  "podman podman"
  "skopeo skopeo"
  "docker-registry docker-registry"
  "jq jq"
  "ip iproute2"
  "pgrep procps"
  "catatonit catatonit"
  "socat socat"
  "taskset util-linux"
  "openssl openssl"
  "testssl testssl.sh"
)
missing=()
for p in "${peers[@]}"; do
  cmd=${p%% *} pkg=${p##* }
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/usr/bin/$cmd" ]; then
    missing+=("$pkg")
  fi
done
# Python modules (of Debian's python3, which the tests run by path) the tests drive as real
# peers: gRPC clients and servers (proxy HTTP/2 tests).
py_peers=(
  "grpc python3-grpcio"
)
for p in "${py_peers[@]}"; do
  mod=${p%% *} pkg=${p##* }
  if ! /usr/bin/python3 -c "import $mod" >/dev/null 2>&1; then
    missing+=("$pkg")
  fi
done
# Libraries the build links: libcrypt (crypt_r, for userlist password hashes, as haproxy).
[ -e /usr/lib/x86_64-linux-gnu/libcrypt.so ] || [ -e /usr/lib/libcrypt.so ] || missing+=(libcrypt-dev)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: missing packages ${missing[*]}; run as root so they can be installed" >&2
    exit 1
  fi
  echo "test.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian starts these services on install; the tests start their own instances on loopback ports.
for svc in haproxy nsd knot docker-registry; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
done

# Some tests send over IPv6 loopback (::1). Where a container starts with IPv6 switched off,
# switch it on for lo; if that is impossible those tests fail and say so.
if [ -w /proc/sys/net/ipv6/conf/lo/disable_ipv6 ] &&
   [ "$(cat /proc/sys/net/ipv6/conf/lo/disable_ipv6)" = 1 ]; then
  echo 0 > /proc/sys/net/ipv6/conf/lo/disable_ipv6 ||
    echo "test.sh: cannot enable IPv6 on lo; the tests that use ::1 will fail" >&2
fi

# --userns=auto takes its ranges from the user "containers" in /etc/subuid and /etc/subgid,
# as podman does as root; the range is podman's documented one.
for f in /etc/subuid /etc/subgid; do
  if ! grep -q '^containers:' "$f" 2>/dev/null; then
    echo "containers:2147483647:2147483648" >> "$f" ||
      echo "test.sh: cannot add the containers range to $f; the --userns tests will fail" >&2
  fi
done

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  # nextest does not run doctests; they go first so that nextest's summary closes the run.
  cargo test --workspace --doc
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
