#!/usr/bin/env bash
# Every constant of a released header keeps its value: status codes, prompt codes, reasons and
# refusals are append-only (loyalty.h), which abidiff cannot see (they are macros). Compares the
# LOY_* macros of the frozen header RELEASED_DIR/loyalty/loyalty.h with those of HEADER_DIR's; only
# the version macros may differ, and a macro may be added.
# Usage: check_constants.sh RELEASED_DIR HEADER_DIR
set -euo pipefail
macros() { printf '#include "loyalty/loyalty.h"\n' | cc -std=c99 -dM -E -I"$1" - | grep -E '^#define LOY_[A-Z0-9_]+ ' | sort; }
released=$(macros "$1")
current=$(macros "$2")
broken=0
while IFS= read -r line; do
  name=$(cut -d' ' -f2 <<<"$line")
  case $name in LOY_VERSION_MINOR | LOY_VERSION_PATCH | LOY_VERSION) continue ;; esac
  now=$(grep -E "^#define $name " <<<"$current" || true)
  if [[ $now != "$line" ]]; then
    echo "constants: $name was \"${line#"#define $name "}\" in the released header, is \"${now#"#define $name "}\" now" >&2
    broken=1
  fi
done <<<"$released"
((broken == 0)) || exit 1
echo "constants: all $(wc -l <<<"$released") LOY_* macros of the released header keep their values"
