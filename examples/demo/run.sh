#!/usr/bin/env bash
# The reference till quoting the bundled demo scenarios, with receipts a person reads.
# Usage: examples/demo/run.sh [BUILD_DIR]   (default: build/release)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build/release}
till=$build/examples/till/loyalty-till
if [[ ! -x $till ]]; then
  echo "demo: $till is not built; run: cmake --workflow --preset release" >&2
  exit 1
fi

echo "loyalty demo: the till quotes seven sales of a fashion chain (rules: demo-chain.json)"
for scenario in "$here"/0*.json; do
  name=$(sed -n 's/^ *"name": *"\(.*\)",$/\1/p' "$scenario" | head -n 1)
  echo
  echo "=== $(basename "$scenario" .json): $name"
  "$till" quote --rules "$here/demo-chain.json" --scenario "$scenario" --format receipt
done
echo
echo "The same quote as the JSON a POS reads (scenario 03):"
"$till" quote --rules "$here/demo-chain.json" --scenario "$here/03-winback-redeem.json"
