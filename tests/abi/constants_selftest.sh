#!/usr/bin/env bash
# check_constants.sh fails when it should: a status code renumbered, or a prompt code removed, in a
# copy of loyalty.h; and passes a constant added.
# Usage: constants_selftest.sh SOURCE_DIR WORK
set -euo pipefail
src=$1 work=$2
rm -rf "$work"
header() {
  mkdir -p "$work/$1/loyalty"
  sed "$2" "$src/include/loyalty/loyalty.h" >"$work/$1/loyalty/loyalty.h"
}
check() { bash "$src/tests/abi/check_constants.sh" "$src/tests/abi/1.1" "$work/$1" >"$work/$1.log" 2>&1; }
header renumbered 's/^#define LOY_E_STATE (-5)/#define LOY_E_STATE (-15)/'
header removed '/^#define LOY_PROMPT_WINBACK /d'
header added 's/^#define LOY_E_INTERNAL (-99)/#define LOY_E_NEW (-15)\n#define LOY_E_INTERNAL (-99)/'
if check renumbered; then echo "constants self-test: a renumbered status passed" >&2; exit 1; fi
if check removed; then echo "constants self-test: a removed prompt code passed" >&2; exit 1; fi
check added || { cat "$work/added.log"; echo "constants self-test: an added constant failed" >&2; exit 1; }
echo "constants self-test: renumbered and removed fail, added passes"
