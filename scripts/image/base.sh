#!/usr/bin/env bash
# Prints the name of a Debian bookworm image the Dockerfile's first stage can start FROM.
# The official debian:bookworm-slim when the daemon has it or can pull it; otherwise (no registry
# reachable, as on the project's CI machines) a bookworm minbase made here with debootstrap from
# the mirror apt already uses and `docker import`ed as chori-torch-base:bookworm. The debootstrap
# tarball is cached (CHORI_IMAGE_CACHE, default ~/.cache/chori-torch), so it is made once.
set -euo pipefail

official=debian:bookworm-slim
local_tag=chori-torch-base:bookworm
cache=${CHORI_IMAGE_CACHE:-$HOME/.cache/chori-torch}
tarball=$cache/bookworm-minbase.tar

has() { docker image inspect "$1" >/dev/null 2>&1; }
say() { echo "image-base: $*" >&2; }

if has "$official"; then echo "$official"; exit 0; fi
if has "$local_tag"; then echo "$local_tag"; exit 0; fi
if timeout 20 docker pull -q "$official" >/dev/null 2>&1; then echo "$official"; exit 0; fi
say "$official cannot be pulled here; using a local debootstrap minbase ($tarball)"

if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || { say "no debootstrap (bash scripts/setup-system.sh --deploy)"; exit 1; }
  # The mirror apt is configured with: these machines reach Debian only through it.
  mirror=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -v security | head -n 1 | awk '{print $2}' || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  say "debootstrap --variant=minbase bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >&2
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  mkdir -p "$cache"
  tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi
docker import "$tarball" "$local_tag" >/dev/null
echo "$local_tag"
