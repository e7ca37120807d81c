# Shared by bench/containers/*.sh (sourced, not run).

# unique_dir NAME: makes and prints $tmp/NAME.XXXXXX, a directory of its own for a store, a
# bundle or an image tree. $tmp carries ext4's "top directory" flag, so each of its
# subdirectories goes to a block group picked from a hash of its name: under a fixed name
# ("d") every run's store landed in the same group (1084 of 2048 here, each time), the one
# the previous run's clean-up had just emptied. On an ext4 without a journal, each new inode
# skips every inode of its group freed in the last 1-6 minutes, reading each one's
# deletion time: behind a previous run's store (its image's ~400 files and its containers),
# that cost `dermaga run --rm` about 3 ms of CPU per run (17 % of its samples in
# `recently_deleted`/`find_inode_bit`, session 9), and as much to whichever tool came second.
# A random name puts each run's directories in a group picked at random.
unique_dir() {
  mktemp -d "$tmp/$1.XXXXXX"
}

# busybox_image DIR: writes DIR/bb.tar, a root file system of busybox-static and its applets
# (with /etc/passwd for root), for `import`; DIR/rootfs is its tree.
busybox_image() {
  local d=$1
  mkdir -p "$d/rootfs/bin" "$d/rootfs/etc" "$d/rootfs/proc" "$d/rootfs/sys" "$d/rootfs/dev" "$d/rootfs/tmp"
  cp "$(command -v busybox)" "$d/rootfs/bin/busybox"
  for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox "$d/rootfs/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$d/rootfs/etc/passwd"
  tar -C "$d/rootfs" -cf "$d/bb.tar" .
}

# Imports $tmp/bb.tar as localhost/bench:1 into the store of each binary of BIN (the
# caller's `store I` gives a binary's store options) and runs it once, to warm the caches.
# $1: the calling script's name, for the error.
import_bench_image() {
  local i
  for i in "${!BIN[@]}"; do
    # shellcheck disable=SC2046
    "${BIN[$i]}" $(store "$i") import "$tmp/bb.tar" localhost/bench:1 >/dev/null 2>&1 \
      || { echo "$1: import with ${BIN[$i]} failed" >&2; exit 1; }
    # shellcheck disable=SC2046
    "${BIN[$i]}" $(store "$i") run --rm localhost/bench:1 /bin/true >/dev/null 2>&1
  done
}
