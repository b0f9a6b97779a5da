#!/bin/sh
# Runs inside the image build: installs the package named $1 from the .deb files in $2 with
# every dependency the base lacks (first alternative of each Depends/Pre-Depends), and nothing
# else. dpkg alone, offline: the build has no network and no apt sources.
set -eu
dir=$2
deb_of() { ls "$dir/$1"_*.deb 2>/dev/null | head -n 1; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
todo=""
visit() {
  case " $todo " in *" $1 "*) return ;; esac
  installed "$1" && return
  deb=$(deb_of "$1")
  [ -n "$deb" ] || { echo "install-debs: $1 is needed but not in $dir" >&2; exit 1; }
  todo="$todo $1"
  for dep in $(dpkg-deb -f "$deb" Pre-Depends Depends | sed 's/^[A-Za-z-]*: //' | tr ',' '\n' \
      | sed 's/|.*//; s/(.*)//; s/:any//' | tr -d ' '); do
    visit "$dep"
  done
}
visit "$1"
echo "install-debs: installing$todo" >&2
# shellcheck disable=SC2046
dpkg -i $(for p in $todo; do deb_of "$p"; done)
