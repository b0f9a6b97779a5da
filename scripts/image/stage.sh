#!/usr/bin/env bash
# Stages the image's whole root filesystem from what `make setup` built on this machine, so that
# `docker build` needs no network: deploy/Dockerfile's stages only assemble and check it.
#   scripts/image/stage.sh CONTEXT_DIR
# CONTEXT_DIR/rootfs/ gets:
#   /usr/bin/node                      this machine's Node
#   /opt/chori-torch/                  package.json, js/, the built addon, production node_modules
#   /usr/lib/chori-torch/              the non-system libraries the addon loads (libtorch_cpu, c10,
#                                      gomp, the CUDA stubs libtorch_cpu links), found by ldd
#   the system libraries ldd lists for node and the addon, at the paths ldd resolved them to
#   /etc/passwd, /etc/group (nobody = 65534), /etc/nsswitch.conf, /tmp, /mnt/models
# Libraries are copied with their debug sections and static symbol tables stripped
# (strip --strip-unneeded keeps the dynamic symbols everything links by); CHORI_IMAGE_STRIP=0 keeps them.
set -euo pipefail

context=${1:?usage: stage.sh CONTEXT_DIR}
repo=$(cd "$(dirname "$0")/../.." && pwd)
addon=$repo/addon/build/Release/chori_torch.node
node_bin=$(readlink -f "$(command -v node)")
rootfs=$context/rootfs
app=/opt/chori-torch
torch_libs=/usr/lib/chori-torch

[ -f "$addon" ] || { echo "stage: $addon is not built (make setup)" >&2; exit 1; }

rm -rf "$rootfs"
mkdir -p "$rootfs$app" "$rootfs$torch_libs" "$rootfs/usr/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/mnt/models"

strip_copy() { # SRC DEST: the file SRC points to, written at DEST, stripped unless told not to
  mkdir -p "$(dirname "$2")"
  cp -L "$1" "$2"
  chmod 0755 "$2"
  if [ "${CHORI_IMAGE_STRIP:-1}" = 1 ] && command -v strip >/dev/null; then strip --strip-unneeded "$2"; fi
}

strip_copy "$node_bin" "$rootfs/usr/bin/node"

# The package as npm would install it: what package.json's "files" ships, minus the sources,
# plus the built addon and the production dependencies (npm's own list of them).
cp "$repo/package.json" "$repo/LICENSE" "$rootfs$app/"
cp -r "$repo/js" "$rootfs$app/js"
mkdir -p "$rootfs$app/addon/build/Release"
strip_copy "$addon" "$rootfs$app/addon/build/Release/chori_torch.node"
cp "$repo/addon/build/chori-build.json" "$rootfs$app/addon/build/" 2>/dev/null || true
(cd "$repo" && npm ls --omit=dev --all --parseable) | sed 1d | while read -r dep; do
  rel=${dep#"$repo"/}
  mkdir -p "$rootfs$app/$(dirname "$rel")"
  cp -r "$dep" "$rootfs$app/$rel"
done
# node-addon-api is headers for the addon's compile; nothing requires it at run time.
rm -rf "$rootfs$app/node_modules/node-addon-api"

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
cp "$repo/deploy/healthcheck.js" "$rootfs$app/healthcheck.js"
chmod 1777 "$rootfs/tmp"
du -sh "$rootfs" | awk '{ print "stage: rootfs " $1 }' >&2
