#!/usr/bin/env bash
# Compiles the Java example (LoyaltyLibrary.java, Till.java, ..., Checkout.java) into OUTDIR and runs it
# with the till configuration CONFIG; exits with its status. The library: the file LOYALTY_LIBRARY names
# when the caller set it, else libloyalty.so.1 from the system's library path (or LD_LIBRARY_PATH).
# JNA: JNA_JAR, else Debian's /usr/share/java/jna.jar (libjna-java).
# Usage: examples/java/run.sh OUTDIR CONFIG
#   e.g. examples/with-hq.sh build/dev/sync/hq/loyalty-hq \
#          env LOYALTY_LIBRARY=$PWD/build/dev/plugin/api/libloyalty.so.1 bash examples/java/run.sh /tmp/java
set -euo pipefail
if [[ $# -ne 2 ]]; then
  echo "usage: $0 OUTDIR CONFIG" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
jna=${JNA_JAR:-/usr/share/java/jna.jar}
mkdir -p "$1"
javac -cp "$jna" -d "$1" "$here"/*.java >&2
exec java -cp "$jna:$1" Checkout "$2"
