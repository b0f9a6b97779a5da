#!/usr/bin/env bash
# System development packages the native addon links against, installed only when missing
# (Debian/Ubuntu, apt-get; needs root, as in CI). Idempotent: with everything present it only
# checks and prints what it found.
#   libjpeg-dev  libjpeg-turbo: JPEG
#   libpng-dev   libpng 1.6: PNG
#   libdeflate-dev libdeflate: small PNGs inflated in one go (addon/src/image/png_rows.cc)
#   libwebp-dev  libwebp + libwebpdemux: WebP (PIL reads WebP through the same animation API)
#   libavif-dev  libavif: AVIF
#   libavif-bin  avifenc: AVIF files of another writer for the tests' corpus
#   libtiff-dev  libtiff: TIFF
#   libtiff-tools tiffcp: TIFF files of another writer for the tests' corpus
#   nlohmann-json3-dev: chori.json, read natively when a model loads (addon/src/model/metadata.cc),
#                by the addon and libchori alike (header-only)
#   pkg-config:  the C++ front end's build (addon/CMakeLists.txt); the Node addon does not need it
#   openssl, curl: the server tests make TLS certificates at test time and talk to the TorchServe
#                routes as TorchServe's documentation does
# With --fuzz, only what the fuzz target needs on top (scripts/fuzz.sh):
#   clang, libclang-rt-dev: clang and its libFuzzer, ASan and UBSan runtimes
# With --deploy, only what the container image and its tests need (make image, scripts/image/):
#   docker.io    dockerd + containerd + runc (scripts/start-dockerd.sh starts it when not running)
#   debootstrap  a local bookworm minbase, imported as the base image where no registry is reachable
#   docker-compose  runs deploy/compose/compose.yml (tests/python/test_compose.py); Debian's haproxy
#                package is not installed here: deploy/haproxy/build.sh fetches it with apt-get
#                download into the balancer's image
# With --browser, only what the web page's test needs (tests/node/web-ui.test.js), each driven
# headless by puppeteer-core, which downloads no browser:
#   chromium     Debian's Chromium (DevTools protocol)
#   firefox-esr  Debian's Firefox ESR (WebDriver BiDi)
set -euo pipefail

packages=(libjpeg-dev libpng-dev libdeflate-dev libwebp-dev libavif-dev libavif-bin libtiff-dev libtiff-tools nlohmann-json3-dev pkg-config openssl curl)
if [ "${1:-}" = "--fuzz" ]; then
  packages=(clang libclang-rt-dev)
elif [ "${1:-}" = "--deploy" ]; then
  packages=(docker.io debootstrap docker-compose)
elif [ "${1:-}" = "--browser" ]; then
  packages=(chromium firefox-esr)
fi
missing=()
for pkg in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    echo "setup-system: $pkg is installed"
  else
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: missing ${missing[*]} and no apt-get here: install them with your package manager" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
    echo "setup-system: missing ${missing[*]}; run as root (or install sudo)" >&2
    exit 1
  fi
fi
echo "setup-system: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
