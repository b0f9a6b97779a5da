#!/usr/bin/env bash
# `make image`: builds chori-torch:<version> and chori-torch:latest from deploy/Dockerfile's
# runtime target, with no network inside `docker build` (the context is what stage.sh staged from
# this machine's build). Does nothing when the image of exactly these inputs exists already: the
# image carries a label with the hash of everything staged into it.
#   scripts/image/build.sh [--print-tag]
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
version=$(node -p "require('./package.json').version")
tag=chori-torch:$version
context=build/image

start=$(bash scripts/start-dockerd.sh) || { echo "image: $start" >&2; exit 3; }
# One build at a time: tests and people may run `make image` at once, and share the context.
mkdir -p build
exec 9>build/image.lock
flock 9

# What goes into the image, by content: the inputs of the staged root filesystem and the recipe.
key=$( {
  sha256sum "$(readlink -f "$(command -v node)")" addon/build/Release/chori_torch.node \
    package.json package-lock.json deploy/Dockerfile deploy/healthcheck.js scripts/image/stage.sh
  find js -type f -print0 | sort -z | xargs -0 sha256sum
  # The libraries by path, size and time (ldd's load addresses change with every run).
  ldd addon/build/Release/chori_torch.node "$(command -v node)" | awk '/=> \// { print $3 }' | sort -u \
    | xargs stat -L -c '%n %s %Y'
} | sha256sum | cut -c1-16)

current=$(docker image inspect -f '{{ index .Config.Labels "org.chori-torch.inputs" }}' "$tag" 2>/dev/null || true)
if [ "$current" = "$key" ]; then
  echo "image: $tag is up to date (inputs $key)" >&2
else
  base=$(bash scripts/image/base.sh)
  bash scripts/image/stage.sh "$context"
  echo "image: building $tag from $base" >&2
  docker build -f deploy/Dockerfile --target runtime --build-arg "BASE=$base" \
    --label "org.chori-torch.inputs=$key" --label "org.opencontainers.image.version=$version" \
    -t "$tag" -t chori-torch:latest "$context"
  # The staged copy is only the build's context; the image holds it now. So do the assemble
  # stage's images (~1 GB each) and the previous build's, now untagged: only ours, by label.
  rm -rf "$context/rootfs"
  docker image prune -f --filter label=org.chori-torch.stage=assemble >/dev/null
  docker image prune -f --filter label=org.chori-torch.inputs >/dev/null
fi
docker tag "$tag" chori-torch:latest
if [ "${1:-}" = "--print-tag" ]; then echo "$tag"; fi
