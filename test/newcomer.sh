#!/usr/bin/env bash
# The README's two lines as a newcomer meets them: a minimal Debian 12 root
# (mmdebstrap --variant=required) with only this machine's Node and npm
# copied in, a fresh clone of this repository's HEAD, then `npm ci && npm run
# demo` and `npm ci && npm test`, each in a private mount namespace whose /
# is that root. Prints each line's exit status and tap's verdict; removes
# everything after. As root; about 20 minutes and 4 GB under /var/tmp.
# Usage: npm run newcomer   (or: bash test/newcomer.sh)
set -euo pipefail
repo=$(git rev-parse --show-toplevel)
work=$(mktemp -d /var/tmp/nph-newcomer-XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
trap 'exit 1' TERM INT
root=$work/root

# The Debian mirror this machine's apt uses (or NPH_DEBIAN_MIRROR): the
# root's apt, and so the test line's installs, use it too.
mirror=$(cd "$repo" && node -p 'require("./build/debian-mirror.cjs").debianMirror()')
mmdebstrap --quiet --variant=required --aptopt='Acquire::Check-Valid-Until "false"' bookworm "$root" "$mirror"

# Node and npm as this machine has them; nothing else is added.
cp "$(readlink -f "$(command -v node)")" "$root/usr/bin/node"
npm_dir=$(readlink -f "$(dirname "$(readlink -f "$(command -v npm)")")/..")
mkdir -p "$root/usr/lib/node_modules"
cp -a "$npm_dir" "$root/usr/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# This workplace reaches the registries through a proxy with its own CA:
# the CA bundle and npm's settings come along, as a newcomer here has them.
mkdir -p "$root/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
global_npmrc=$(npm config get globalconfig)
if [ -f "$global_npmrc" ]; then mkdir -p "$root$(dirname "$global_npmrc")"; cp "$global_npmrc" "$root$global_npmrc"; fi
if [ -f "$HOME/.npmrc" ]; then cp "$HOME/.npmrc" "$root/root/.npmrc"; fi
git clone --quiet "$repo" "$root/root/nvidia-procfs-hook"

# One README line inside the root: its own / (pivot_root, as the tests' own
# roots), fresh /proc, the host's /dev and /sys, empty /tmp and /run.
line() {
  unshare -m --propagation private /bin/sh -ec '
    root=$1; shift
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --rbind /sys "$root/sys"
    mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
    mount -t tmpfs -o mode=0755 tmpfs "$root/run"
    cd "$root" && pivot_root . . && umount -l .
    cd /root/nvidia-procfs-hook
    exec env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt /bin/sh -c "$1"
  ' sh "$root" "$1"
}

status=0
for cmd in 'npm ci && npm run demo' 'npm ci && npm test'; do
  echo "== $cmd"
  set +e
  line "$cmd" >"$work/out.txt" 2>&1
  rc=$?
  set -e
  tail -n 5 "$work/out.txt"
  grep -E '^# \{ total' "$work/out.txt" | tail -n 1 || true
  # The test files that failed, as tap names them.
  grep -E '^not ok [0-9]+ - ' "$work/out.txt" || true
  echo "== exit $rc: $cmd"
  [ "$rc" = 0 ] || status=1
done
exit "$status"
