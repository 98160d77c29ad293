#!/usr/bin/env bash
# The ABI guard fails when it should: a small library with one function of loyalty.h is the
# baseline; a field added in the middle of loy_line, retyped or removed, a function removed or a
# parameter retyped (size_t too), must fail the guard; a field added at the end of loy_line, or a
# function added, must pass.
# Usage: guard_selftest.sh SOURCE_DIR WORK
set -euo pipefail
src=$1 work=$2
rm -rf "$work"
mkdir -p "$work"
cd "$work"
cat >stub.c <<'C'
#include "loyalty/loyalty.h"
LOY_API loy_status LOY_CALL loy_checkout_add_line(loy_checkout *c, const loy_line *l) {
  (void)c;
  return l ? (loy_status)l->qty : 0;
}
#ifndef SIZE_T
#define SIZE_T size_t
#endif
LOY_API loy_status LOY_CALL loy_till_apply_rules(loy_till *till, const char *json, SIZE_T size) {
  return till && json ? (loy_status)size : 0;
}
#ifdef ADDED
LOY_API loy_status LOY_CALL loy_guard_added(loy_checkout *c) { return c ? 1 : 0; }
#endif
#ifndef REMOVED
LOY_API uint32_t LOY_CALL loy_version(void) { return LOY_VERSION; }
#endif
C
# variant NAME SED_SCRIPT [CFLAGS...]: libNAME.so built from loyalty.h edited by SED_SCRIPT.
variant() {
  local name=$1 script=$2
  shift 2
  mkdir -p "$name/loyalty"
  sed "$script" "$src/include/loyalty/loyalty.h" >"$name/loyalty/loyalty.h"
  cc -g -shared -fPIC -fvisibility=hidden -I"$name" "$@" stub.c -o "$name/libloyalty.so.1"
}
variant base ''
abidw --headers-dir base/loyalty --out-file base.abi base/libloyalty.so.1
guard() { bash "$src/tests/abi/check_abi.sh" base.abi "$1/libloyalty.so.1" >"$1.log" 2>&1; }
expect() {
  local want=$1 name=$2
  if guard "$name"; then got=pass; else got=fail; fi
  if [[ $got != "$want" ]]; then
    cat "$name.log"
    echo "guard self-test: $name should $want the guard but did $got it" >&2
    exit 1
  fi
  echo "guard self-test: $name: the guard ${want}ed, as it should"
}
variant same ''
expect pass same
variant grown_at_end '/^} loy_line;/i\  int64_t appended;'
expect pass grown_at_end
variant added '' -DADDED
expect pass added
variant inserted_in_middle '/^  const char \*sku;/a\  int32_t inserted;'
expect fail inserted_in_middle
variant removed '' -DREMOVED
expect fail removed
variant retyped 's/^  int64_t qty;/  int32_t qty;/'
expect fail retyped
# A parameter of a system header's type (size_t) retyped: stub.c then defines it with the new type too.
variant size_retyped 's/loy_till_apply_rules(loy_till \*till, const char \*json, size_t size)/loy_till_apply_rules(loy_till *till, const char *json, uint32_t size)/' -DSIZE_T=uint32_t
expect fail size_retyped
variant grown_and_retyped 's/^  int64_t qty;/  int32_t qty;/; /^} loy_line;/i\  int64_t appended;'
expect fail grown_and_retyped
variant member_removed '/^  const char \*category;/d'
expect fail member_removed
