#!/usr/bin/env bash
# Makes sure a Docker daemon answers: exits 0 when one already does or once the one started here
# does (Debian's docker.io: overlay2 storage, whatever cgroup version the machine mounts).
# Exits 3 with one line on stdout saying why when no daemon can run here (no dockerd, not root,
# no overlay filesystem, no cgroups), so that tests skip with that reason instead of failing.
# Used by `make image` and the image tests (tests/python/test_image.py).
set -uo pipefail

docker_cli=$(command -v docker || true)
answers() { [ -n "$docker_cli" ] && "$docker_cli" info >/dev/null 2>&1; }
cannot() {
  echo "dockerd cannot run here: $*"
  exit 3
}

answers && exit 0
command -v dockerd >/dev/null 2>&1 || cannot "no dockerd (bash scripts/setup-system.sh --deploy installs docker.io)"
[ -n "$docker_cli" ] || cannot "no docker command"
[ "$(id -u)" -eq 0 ] || cannot "not root, and no daemon answers on the default socket"
grep -qw overlay /proc/filesystems || cannot "the kernel has no overlay filesystem (overlay2 storage)"
[ -d /sys/fs/cgroup ] && [ -n "$(ls -A /sys/fs/cgroup 2>/dev/null)" ] || cannot "no cgroup filesystem under /sys/fs/cgroup"

log=${CHORI_DOCKERD_LOG:-/var/log/chori-dockerd.log}
# setsid + nohup: the daemon outlives the make or test process that started it.
setsid nohup dockerd --storage-driver overlay2 >>"$log" 2>&1 </dev/null &
for _ in $(seq 1 60); do
  answers && exit 0
  sleep 0.5
done
cannot "dockerd did not answer within 30 s ($(tail -n 1 "$log" 2>/dev/null))"
