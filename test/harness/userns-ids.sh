#!/bin/sh
# Usage: userns-ids.sh CMD [ARG...]
# Runs CMD as uid 0 in new user, mount (private), pid (with its own /proc)
# and cgroup namespaces, where ids 0-65535 are themselves: a root whose files
# keep their owners (an image's _apt, shadow's group), as a host's root. As
# root. unshare's --map-root-user maps uid 0 alone, and --map-users needs
# /etc/subuid; a writer with CAP_SETUID here may write any map, so this
# script writes it once unshare has made the namespace, then lets CMD run.
set -e
gate=$(mktemp -d)
mkfifo "$gate/go"
trap 'rm -rf "$gate"' EXIT
unshare --user --mount --propagation private --pid --cgroup --fork --mount-proc \
  /bin/sh -c 'read -r _ <"$0"; exec "$@"' "$gate/go" "$@" &
child=$!
# unshare (the child, not its fork) holds the new user namespace once it differs from ours.
while [ "$(readlink /proc/$child/ns/user)" = "$(readlink /proc/self/ns/user)" ]; do
  kill -0 "$child" 2>/dev/null || break
  sleep 0.01
done
echo '0 0 65536' >"/proc/$child/uid_map"
echo '0 0 65536' >"/proc/$child/gid_map"
echo go >"$gate/go"
set +e
wait "$child"
