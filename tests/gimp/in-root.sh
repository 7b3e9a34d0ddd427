#!/usr/bin/env bash
# in-root.sh ROOT [NAME=VALUE ...] COMMAND [ARG ...]
# Runs COMMAND inside the chroot ROOT with a clean environment (plus the NAME=VALUE pairs), in a private
# mount + pid namespace that takes every process of it along when it ends. unshare ignores SIGTERM:
# stop it with SIGKILL (--kill-child then kills what runs inside).
ROOT=${1:?usage: in-root.sh ROOT [NAME=VALUE ...] COMMAND [ARG ...]}
shift
exec unshare --mount --pid --fork --kill-child --propagation private \
  sh -c 'R=$0; mount -t proc proc "$R/proc" && exec chroot "$R" "$@"' "$ROOT" \
  env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 "$@"
