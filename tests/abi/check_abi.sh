#!/usr/bin/env bash
# The ABI guard: compares library LIB (with its debug information) to the released ABI in BASELINE
# (abidw's XML). It passes when nothing changed, or only what
# keeps every caller working (loyalty.h, "Conventions"): functions added, and structs grown at their
# end (a field at or past the old size; callers pass their struct_size). Anything else fails: a
# function removed or changed, a field moved, retyped or removed, any other type changed.
# Usage: check_abi.sh BASELINE LIB
set -uo pipefail
baseline=$1 lib=$2
# No headers directory for abidiff: it would take size_t and the other types of system headers for
# private ones, and let a parameter retyped from size_t through. The baseline holds only the types
# loyalty.h declares (packaging/abi/public-types.abignore), and nothing else of the library is
# reachable from its functions (the handles are incomplete types).
report=$(abidiff --leaf-changes-only --no-added-syms --fail-no-debug-info "$baseline" "$lib" 2>&1)
rc=$?
echo "$report"
# abidiff's status bits: 1 error, 2 usage, 4 an ABI change, 8 an incompatible one.
if ((rc & 3)); then
  echo "abi: abidiff could not compare $lib with $baseline (status $rc)" >&2
  exit 1
fi
if ((rc & 8)); then
  echo "abi: $lib breaks the released ABI of $baseline: see above" >&2
  exit 1
fi
if ((rc & 4)); then
  # Every leaf change must be a struct grown at its end.
  verdict=$(awk '
    function bad(why) { if (reason == "") reason = why }
    /^$/ { in_struct = 0; next }
    /^Leaf changes summary:/ || /^Changed leaf types summary:/ { next }
    /^Removed\/Changed\/Added (functions|variables) summary:/ {
      # Nothing removed or changed, not even a change abidiff judged harmless and filtered out.
      if ($0 !~ /: 0 Removed, 0 Changed, /) bad("a function or variable was removed or changed")
      next
    }
    /^'\''struct .*'\'' changed:$/ { in_struct = 1; old = -1; name = $2; next }
    in_struct && /^  type size changed from [0-9]+ to [0-9]+ \(in bits\)$/ { old = $5 + 0; next }
    in_struct && /^  [0-9]+ data member insertions?:$/ { next }
    in_struct && /^    '\''.*'\'', at offset [0-9]+ \(in bits\)/ {
      off = $0; sub(/.*, at offset /, "", off); sub(/ .*/, "", off)
      if (old < 0 || off + 0 < old) bad("struct " name ": a field inserted before its end")
      next
    }
    { bad("not a struct grown at its end: " $0) }
    END { print (reason == "" ? "ok" : reason) }' <<<"$report")
  if [[ $verdict != ok ]]; then
    echo "abi: $lib breaks the released ABI of $baseline: $verdict" >&2
    exit 1
  fi
fi
echo "abi: $lib keeps the released ABI of $(basename "$baseline") (only functions added and structs grown at their end)"
