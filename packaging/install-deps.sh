#!/usr/bin/env bash
# Installs the Debian 12 packages that loyalty's build, tests and demo need. Run as root.
# Idempotent: installs only what is missing, and says what it installed.
set -euo pipefail

packages=(
  build-essential   # g++ 12, make, the C toolchain
  cmake             # 3.25, with presets
  ninja-build       # the presets' generator
  git
  ccache            # used by the build when present
  pkg-config
  libboost-dev      # Boost 1.74: Beast and Asio for the sync over HTTPS
  libssl-dev        # OpenSSL 3.0: code hashing, enrollment sealing, TLS
  openssl           # the command line: demo and development keys
  libsqlite3-dev    # SQLite 3.40: the till's database
  libpq-dev         # libpq 15: headquarters' PostgreSQL storage
  postgresql        # PostgreSQL 15's server: the postgres tests start a throwaway cluster
  postgresql-client # pg_dump and pg_restore: the tests' backups of headquarters
  haproxy           # two headquarters behind a load balancer (tests/bench/scale.sh and its test)
  liblz4-dev        # LZ4: the till packs its outbox bodies
  nlohmann-json3-dev
  libcli11-dev
  catch2            # 2.13
  libbenchmark-dev  # Google Benchmark
  clang             # the header checked for Windows targets (x86, x64) by a test
  abigail-tools     # abidiff: the ABI guard against the released baseline
  dpkg-dev          # dpkg-shlibdeps: the .deb packages' real dependencies
  file              # CPack's DEB generator
  systemd           # systemd-analyze verify: the loyalty-hq unit
  python3           # the Python example package and its tests
  mono-mcs          # the C# example (P/Invoke), compiled with mcs
  mono-runtime      # ... and run with mono
  default-jdk-headless  # the Java example (JNA)
  libjna-java
)

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: run as root (for example: sudo bash $0)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]%% *}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
