#!/usr/bin/env bash
# Compiles the C# example (Loyalty.cs, Checkout.cs) into OUTDIR and runs it with the till configuration
# CONFIG; exits with its status. Mono finds libloyalty.so.1 through the dynamic loader: the system's
# library path (the installed package), or LD_LIBRARY_PATH as the caller set it.
# Usage: examples/csharp/run.sh OUTDIR CONFIG
#   e.g. examples/with-hq.sh build/dev/sync/hq/loyalty-hq \
#          env LD_LIBRARY_PATH=$PWD/build/dev/plugin/api bash examples/csharp/run.sh /tmp/cs
set -euo pipefail
if [[ $# -ne 2 ]]; then
  echo "usage: $0 OUTDIR CONFIG" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
# The compiler's chatter goes to stderr: stdout is the example's alone.
mcs -out:"$1/Checkout.exe" "$here"/*.cs >&2
exec mono "$1/Checkout.exe" "$2"
