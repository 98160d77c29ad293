#!/usr/bin/env bash
# find_package(loyalty VERSION CONFIG) against the SDK in PREFIX: every 1.x up to the SDK's own is
# compatible (SameMajorVersion), a later minor or another major is not.
# Usage: check_versions.sh PREFIX WORK SOURCE_DIR
set -euo pipefail
prefix=$(cd "$1" && pwd) work=$2 src=$3
export PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name loyalty.pc)")
IFS=. read -r major minor patch <<<"$(pkg-config --modversion loyalty)"
configure() {
  rm -rf "$work"
  cmake -S "$src" -B "$work" -DCMAKE_PREFIX_PATH="$prefix" -DWANT="$1" >"$work.log" 2>&1
}
for want in "$major" "$major.0" "$major.$minor" "$major.$minor.$patch"; do
  configure "$want" || { cat "$work.log"; echo "find_package(loyalty $want) failed against $major.$minor.$patch" >&2; exit 1; }
  echo "loyalty $want: found"
done
for want in "$((major + 1))" "$major.$((minor + 1))" "$((major - 1)).9"; do
  if configure "$want"; then
    echo "find_package(loyalty $want) accepted $major.$minor.$patch" >&2
    exit 1
  fi
  echo "loyalty $want: refused, as it should be"
done
