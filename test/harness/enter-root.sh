#!/bin/sh
# Usage: enter-root.sh ROOT PROJECT CMD [ARG...]
# Run inside a fresh private mount namespace (unshare -m --propagation
# private), as root: makes the Debian root ROOT (test/harness/debian-root.ts)
# this namespace's / and runs CMD there, in PROJECT, with that root's host
# tools (util-linux, runtimes). The root is made a mount point (runc and
# pivot_root need one) with a fresh /proc, the host's /dev and /sys, empty
# /tmp and /run, and PROJECT and CMD itself (the running node) bound at their
# own paths, so tap's files, loader and coverage directory are where tap
# expects them. pivot_root, not chroot: a process that enters a namespace
# made in there (nsenter --mount) lands in the root too, not in the host's
# files. The host's NODE_EXTRA_CA_CERTS names a file the root lacks.
set -e
root=$1 project=$2
shift 2
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mkdir -p "$root$project" "$root$(dirname "$1")"
[ -e "$root$1" ] || : >"$root$1"
mount --bind "$project" "$root$project"
mount --bind "$1" "$root$1"
# Scripts run as `#!/usr/bin/env node` (the NVIDIA hook stand-in) find it
# there too, unless the root has a node of its own (a non-empty file).
if [ "$1" != /usr/bin/node ] && [ ! -s "$root/usr/bin/node" ]; then
  : >"$root/usr/bin/node"
  mount --bind "$1" "$root/usr/bin/node"
fi
# Paths named in NPH_ROOT_BINDS (colon-separated: the real runsc and NVIDIA's
# tools, test/harness/real-tools.ts), bound read-only at their own paths.
IFS=:
for p in ${NPH_ROOT_BINDS:-}; do
  if [ -d "$p" ]; then mkdir -p "$root$p"; else mkdir -p "$root$(dirname "$p")"; [ -e "$root$p" ] || : >"$root$p"; fi
  mount --bind "$p" "$root$p"
  mount -o remount,bind,ro "$root$p"
done
unset IFS
# containerd's CRI copies /etc/hosts into each pod; mmdebstrap writes none.
[ -e "$root/etc/hosts" ] || printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
cd "$root"
pivot_root . .
umount -l .
unset NODE_EXTRA_CA_CERTS
cd "$project"
exec "$@"
