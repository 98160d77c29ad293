#!/usr/bin/env bash
# Installs the SDK (components runtime and dev) of build BUILD into PREFIX, afresh, as a vendor's
# machine holds it, and checks that it holds what a POS build needs and nothing of headquarters.
# Usage: install_sdk.sh BUILD PREFIX
set -euo pipefail
build=$1 prefix=$2
rm -rf "$prefix"
for component in runtime dev; do
  cmake --install "$build" --prefix "$prefix" --component "$component" >/dev/null
done
pc=$(find "$prefix" -name loyalty.pc)
[[ -n $pc ]] || { echo "no loyalty.pc under $prefix" >&2; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir loyalty)
includedir=$(pkg-config --variable=includedir loyalty)
version=$(pkg-config --modversion loyalty)
header_version=$(sed -n 's/^#define LOY_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$includedir/loyalty/loyalty.h" | paste -sd.)
[[ $version == "$header_version" ]] || { echo "loyalty.pc says $version, loyalty.h $header_version" >&2; exit 1; }
for f in "$libdir/libloyalty.so.1" "$libdir/libloyalty.so.$version" "$libdir/libloyalty.so" \
         "$includedir/loyalty/loyalty.h" "$includedir/loyalty/loyalty.hpp" \
         "$libdir/cmake/loyalty/loyaltyConfig.cmake" "$libdir/cmake/loyalty/loyaltyConfigVersion.cmake" \
         "$prefix/share/doc/libloyalty-dev/integration.md" "$prefix/share/doc/libloyalty-dev/rules.md" \
         "$prefix/share/doc/libloyalty-dev/examples/with-hq.sh" "$prefix/share/doc/libloyalty-dev/examples/c/checkout.c"; do
  [[ -e $f ]] || { echo "the SDK lacks $f" >&2; exit 1; }
done
[[ $(readelf -d "$libdir/libloyalty.so.1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p') == libloyalty.so.1 ]] ||
  { echo "libloyalty.so.1's SONAME is not libloyalty.so.1" >&2; exit 1; }
if find "$prefix" -name 'loyalty-hq*' -o -name 'loyalty-till' | grep -q .; then
  echo "the SDK holds headquarters or tools" >&2
  exit 1
fi
echo "SDK $version installed in $prefix: library in $libdir, header in $includedir"
