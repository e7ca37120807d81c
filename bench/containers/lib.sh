# Shared by bench/containers/*.sh (sourced, not run).

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
