#!/usr/bin/env bash
# Builds chori-haproxy:latest (deploy/haproxy/Dockerfile) FROM the same bookworm base as the
# chori-torch image (scripts/image/base.sh), without network inside the build: Debian's haproxy
# package and its dependencies are downloaded here, by the host's apt, and cached
# (CHORI_IMAGE_CACHE, default ~/.cache/chori-torch). Prints the image name.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tag=${CHORI_HAPROXY_IMAGE:-chori-haproxy:latest}
cache=${CHORI_IMAGE_CACHE:-$HOME/.cache/chori-torch}/haproxy-debs
say() { echo "haproxy-image: $*" >&2; }

base=$(bash "$root/scripts/image/base.sh")
if ! ls "$cache"/haproxy_*.deb >/dev/null 2>&1; then
  command -v apt-get >/dev/null || { say "no apt-get to download Debian's haproxy with"; exit 1; }
  # Every package haproxy needs, recursively; the Dockerfile installs only those the base lacks.
  mapfile -t packages < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances haproxy | grep -E '^[a-z0-9]' | sort -u)
  mkdir -p "$cache.tmp"
  say "downloading ${#packages[@]} packages (haproxy and its dependencies) with the host's apt"
  (cd "$cache.tmp" && apt-get download -q "${packages[@]}" >&2)
  rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$here/Dockerfile" "$here/haproxy.cfg" "$here/install-debs.sh" "$context/"
cp -r "$cache" "$context/debs"
say "docker build -t $tag (FROM $base)"
docker build -q --build-arg "BASE=$base" -t "$tag" "$context" >&2
echo "$tag"
