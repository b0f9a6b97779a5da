#!/usr/bin/env bash
# Stages a container's whole root filesystem from what is built on this machine (or in a build
# stage), so that the image's last stage is one COPY onto an empty base:
#   scripts/image/stage.sh CONTEXT_DIR              chori-torch itself (make image)
#   scripts/image/stage.sh CONTEXT_DIR --app DIR    a Node app with chori-torch installed in its
#                                                   node_modules (examples/docker-app/Dockerfile)
# CONTEXT_DIR/rootfs/ gets:
#   /usr/bin/node                      this machine's Node
#   /opt/chori-torch/                  package.json, js/, the built addon, production node_modules
#     or /app/                         the app, its production node_modules, chori-torch's addon
#   /usr/lib/chori-torch/              the non-system libraries the addon loads (libtorch_cpu, c10,
#                                      gomp, the CUDA stubs libtorch_cpu links), found by ldd
#   the system libraries ldd lists for node and the addon, at the paths ldd resolved them to
#   /etc/passwd, /etc/group (nobody = 65534), /etc/nsswitch.conf, /tmp, /mnt/models
# Libraries are copied with their debug sections and static symbol tables stripped
# (strip --strip-unneeded keeps the dynamic symbols everything links by); CHORI_IMAGE_STRIP=0 keeps them.
set -euo pipefail

context=${1:?usage: stage.sh CONTEXT_DIR [--app DIR]}
app_src=
if [ "${2:-}" = "--app" ]; then app_src=$(cd "${3:?--app needs a directory}" && pwd); fi
repo=$(cd "$(dirname "$0")/../.." && pwd)
node_bin=$(readlink -f "$(command -v node)")
rootfs=$context/rootfs
torch_libs=/usr/lib/chori-torch
if [ -n "$app_src" ]; then
  app=/app
  pkg_dir=$(cd "$app_src" && node -p "require('path').dirname(require.resolve('chori-torch/package.json'))")
  case "$pkg_dir" in
    "$app_src"/*) ;;
    *) echo "stage: chori-torch resolves to $pkg_dir, outside $app_src: install it in the app (npm ci)" >&2; exit 1 ;;
  esac
else
  app=/opt/chori-torch
  pkg_dir=$repo
fi
addon=$pkg_dir/addon/build/Release/chori_torch.node
[ -f "$addon" ] || { echo "stage: $addon is not built (make setup; npm install builds it)" >&2; exit 1; }

rm -rf "$rootfs"
mkdir -p "$rootfs$app" "$rootfs$torch_libs" "$rootfs/usr/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/mnt/models"

strip_copy() { # SRC DEST: the file SRC points to, written at DEST, stripped unless told not to
  mkdir -p "$(dirname "$2")"
  cp -L "$1" "$2"
  chmod 0755 "$2"
  if [ "${CHORI_IMAGE_STRIP:-1}" = 1 ] && command -v strip >/dev/null; then strip --strip-unneeded "$2"; fi
}

strip_copy "$node_bin" "$rootfs/usr/bin/node"

if [ -n "$app_src" ]; then
  # The app as its build left it (npm ci --omit=dev: production dependencies only), minus what
  # only compiling needed: node-gyp's objects and the addon's sources.
  cp -r "$app_src/." "$rootfs$app/"
  pkg_rel=${pkg_dir#"$app_src"/}
  rm -rf "$rootfs$app/$pkg_rel/addon" "$rootfs$app/node_modules/node-addon-api"
  mkdir -p "$rootfs$app/$pkg_rel/addon/build/Release"
  strip_copy "$addon" "$rootfs$app/$pkg_rel/addon/build/Release/chori_torch.node"
else
  # The package as npm would install it: what package.json's "files" ships, minus the sources,
  # plus the built addon and the production dependencies (npm's own list of them).
  cp "$repo/package.json" "$repo/LICENSE" "$rootfs$app/"
  cp -r "$repo/js" "$rootfs$app/js"
  mkdir -p "$rootfs$app/addon/build/Release"
  strip_copy "$addon" "$rootfs$app/addon/build/Release/chori_torch.node"
  cp "$repo/addon/build/chori-build.json" "$rootfs$app/addon/build/" 2>/dev/null || true
  (cd "$repo" && npm ls --omit=dev --all --parseable) | sed 1d | while read -r dep; do
    rel=${dep#"$repo"/}
    # A nested dependency came with its parent's folder.
    [ -e "$rootfs$app/$rel" ] && continue
    mkdir -p "$rootfs$app/$(dirname "$rel")"
    cp -r "$dep" "$rootfs$app/$rel"
  done
  # node-addon-api is headers for the addon's compile; nothing requires it at run time.
  rm -rf "$rootfs$app/node_modules/node-addon-api"
  cp "$repo/deploy/healthcheck.js" "$rootfs$app/healthcheck.js"
fi

# Every library the dynamic loader maps for node and the addon, as ldd resolves them here
# (ldd lists the whole closure, the libraries' own dependencies included).
ldd "$node_bin" "$addon" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | sort -u | while read -r lib; do
  case "$lib" in
    /lib/*|/lib64/*|/usr/lib/*) dest=$rootfs$lib ;;
    *) dest=$rootfs$torch_libs/$(basename "$lib") ;;
  esac
  [ -e "$dest" ] || strip_copy "$lib" "$dest"
done
# The program interpreter node names (PT_INTERP), wherever ldd printed the loader.
interp=$(readelf -l "$node_bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
[ -e "$rootfs$interp" ] || strip_copy "$interp" "$rootfs$interp"

printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
chmod 1777 "$rootfs/tmp"
du -sh "$rootfs" | awk '{ print "stage: rootfs " $1 }' >&2
