#!/usr/bin/env bash
# Builds an example of the installed SDK in PREFIX from the SDK's own copy of it, as a vendor would,
# and runs it against a real headquarters (HQ, on 127.0.0.1), with the library of PREFIX only.
# Usage: consume.sh PREFIX HQ WORK c|cpp|python|csharp|java
set -euo pipefail
prefix=$(cd "$1" && pwd) hq=$2 work=$3 lang=$4
export PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name loyalty.pc)")
libdir=$(pkg-config --variable=libdir loyalty)
examples=$prefix/share/doc/libloyalty-dev/examples
rm -rf "$work"
mkdir -p "$work"
# Nothing of the build tree may be found: only PREFIX's library, by its path.
unset LD_LIBRARY_PATH
export LOYALTY_LIBRARY=$libdir/libloyalty.so.1
case $lang in
  c)
    cmake -S "$examples/c" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Debug >/dev/null
    cmake --build "$work/build" >/dev/null
    # The same program by hand: the compiler and pkg-config alone.
    cc -std=c99 -Wall -Wextra -Werror "$examples/c/checkout.c" $(pkg-config --cflags --libs loyalty) -o "$work/checkout-cc"
    run=(env LD_LIBRARY_PATH="$libdir" "$work/build/checkout")
    ;;
  cpp)
    cmake -S "$examples/cpp" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Debug >/dev/null
    cmake --build "$work/build" >/dev/null
    run=(env LD_LIBRARY_PATH="$libdir" "$work/build/checkout")
    ;;
  python)
    (cd "$examples/python" && PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s tests) 2>&1 | tail -n 3
    run=(env PYTHONDONTWRITEBYTECODE=1 python3 "$examples/python/checkout.py")
    ;;
  csharp)
    run=(env LD_LIBRARY_PATH="$libdir" bash "$examples/csharp/run.sh" "$work/out")
    ;;
  java)
    run=(bash "$examples/java/run.sh" "$work/out")
    ;;
  *)
    echo "consume.sh: no example for $lang" >&2
    exit 2
    ;;
esac
out=$(bash "$examples/with-hq.sh" "$hq" "${run[@]}" 2>&1) || { echo "$out"; echo "the $lang example failed" >&2; exit 1; }
echo "$out"
# The steps every example takes, in its own language, with the same figures.
# (Python words its money as "CNY 728.00"; the others print minor units.)
for expect in "^opened: libloyalty $(pkg-config --modversion loyalty)$" "^member M-1001 \(L\* F\*\*\*\), Gold, 5000 points" \
              "^not a member: no member has this code$" "^quote: gross (72800|CNY 728\.00), member discount (3640|CNY 36\.40)" \
              "^committed R-[A-Z]+-0001: payable (68160|CNY 681\.60), earned 1022$" "^retry of R-[A-Z]+-0001: replayed, no second sale$" \
              "^refunded F-[A-Z]+-0001: (12078|CNY 120\.78) back, 181 points taken back, 177 given back$" \
              "^enrolled T-S001-[0-9a-f]{16}: first purchase" "^status: outbox 0, members 4, rules demo-2026\.1$" "^done$"; do
  grep -qE -- "$expect" <<<"$out" || { echo "the $lang example printed no line matching \"$expect\"" >&2; exit 1; }
done
