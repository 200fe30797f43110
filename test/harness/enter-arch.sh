#!/bin/sh
# Usage: enter-arch.sh QEMU_ARCH SYSROOT CMD [ARG...]
# Run inside fresh user, mount, pid and cgroup namespaces
# (test/harness/userns-ids.sh), as their root: makes this
# namespace look like a host of another architecture with Debian's qemu-user
# registered, as binfmt-support or systemd-binfmt would register it there, so
# that its programs run by path: runtimes, nsenter and the hook's re-run of
# itself exec them as on that host. Linux >= 6.7 gives each user namespace
# its own binfmt_misc instance: nothing is registered on this machine. The
# other architecture's libraries (SYSROOT, from mmdebstrap) are overlaid onto
# /usr/lib, read-only, where its dynamic loader looks (/lib is usr/lib).
set -e
qemu_arch=$1 sysroot=$2
shift 2
rule=/usr/lib/binfmt.d/qemu-$qemu_arch.conf
[ -r "$rule" ] || { echo "enter-arch.sh: $rule missing: apt-get install qemu-user-static" >&2; exit 1; }
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
# Debian's own rule, as is: F opens qemu now, so every mount namespace made
# in here (containers, nsenter) finds it.
cat "$rule" >/proc/sys/fs/binfmt_misc/register
mount -t overlay -o "lowerdir=/usr/lib:$sysroot/lib:$sysroot/usr/lib" overlay /usr/lib
# The cgroup namespace's own cgroup2, in place of this machine's hierarchy
# (which may be hybrid, and whose mounts are locked in here): what a
# container runtime finds on a cgroup v2 host.
mount -t cgroup2 cgroup2 /sys/fs/cgroup
exec "$@"
