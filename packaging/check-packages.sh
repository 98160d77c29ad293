#!/usr/bin/env bash
# Installs the .deb packages of DIR on this machine (root), as a chain's machine would, checks what
# they installed, builds and runs the C and C++ examples from the installed SDK against the installed
# headquarters (127.0.0.1 only), and removes the packages again. Used by CI.
# Usage: packaging/check-packages.sh DIR
set -euo pipefail
dir=$(cd "$1" && pwd)
packages=(libloyalty1 libloyalty-dev loyalty-hq loyalty-tools)
work=$(mktemp -d /tmp/loyalty-packages.XXXXXX)
trap 'rm -rf "$work"' EXIT
step() { printf '\n=== %s\n' "$*"; }

step "apt-get install the packages"
for p in "${packages[@]}"; do
  ls "$dir/${p}_"*.deb >/dev/null
  printf '%s: %s, depends on: %s\n' "$p" "$(du -h "$dir/${p}_"*.deb | cut -f1)" "$(dpkg-deb -f "$dir/${p}_"*.deb Depends)"
done
dpkg-deb -I "$dir"/libloyalty1_*.deb shlibs | grep -q '^libloyalty 1 libloyalty1 (>= ' ||
  { echo "check-packages: libloyalty1 has no shlibs file that lets a POS package run on later 1.x" >&2; exit 1; }
apt-get install -y "$dir"/*.deb

step "the installed programs"
loyalty-till --help | head -n 3
loyalty-hq --help | head -n 2
systemd-analyze verify /lib/systemd/system/loyalty-hq.service
echo "loyalty-hq.service: verified"
id loyalty
stat -c '%A %U:%G %n' /etc/loyalty /etc/loyalty/hq.json /etc/loyalty/code.key /var/lib/loyalty

step "headquarters' default configuration, once the chain's certificates are in place, as the loyalty user"
bash /usr/share/loyalty-tools/dev-pki.sh "$work/pki" S001 >/dev/null
install -o root -g loyalty -m 0640 "$work/pki/hq.pem" /etc/loyalty/tls/hq.pem
install -o root -g loyalty -m 0640 "$work/pki/hq.key" /etc/loyalty/tls/hq.key
install -o root -g loyalty -m 0640 "$work/pki/ca.pem" /etc/loyalty/tls/ca.pem
install -o root -g loyalty -m 0640 "$work/pki/hq-enroll-private.pem" /etc/loyalty/enroll-private.pem
(cd /var/lib/loyalty && runuser -u loyalty -- loyalty-hq members list --config /etc/loyalty/hq.json)
ls -l /var/lib/loyalty

step "the C example, from the installed SDK, with pkg-config; the C++ example with find_package"
examples=/usr/share/doc/libloyalty-dev/examples
cc -std=c99 -Wall -Wextra -Werror "$examples/c/checkout.c" $(pkg-config --cflags --libs loyalty) -o "$work/checkout-c"
cmake -S "$examples/cpp" -B "$work/cpp" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/cpp" >/dev/null
for program in "$work/checkout-c" "$work/cpp/checkout"; do
  bash "$examples/with-hq.sh" /usr/bin/loyalty-hq "$program" | tail -n 2
done

step "the Python, C# and Java examples, with the library where the package put it (the loader's default path)"
unset LOYALTY_LIBRARY LD_LIBRARY_PATH
export PYTHONDONTWRITEBYTECODE=1
bash "$examples/with-hq.sh" /usr/bin/loyalty-hq python3 "$examples/python/checkout.py" | tail -n 2
bash "$examples/with-hq.sh" /usr/bin/loyalty-hq bash "$examples/csharp/run.sh" "$work/cs" | tail -n 2
bash "$examples/with-hq.sh" /usr/bin/loyalty-hq bash "$examples/java/run.sh" "$work/java" | tail -n 2

step "apt-get purge the packages"
apt-get purge -y "${packages[@]}"
for f in /usr/bin/loyalty-hq /usr/bin/loyalty-till /usr/include/loyalty/loyalty.h /lib/systemd/system/loyalty-hq.service; do
  [[ ! -e $f ]] || { echo "check-packages: $f is still there after the purge" >&2; exit 1; }
done
if ls /usr/lib/*/libloyalty.so* >/dev/null 2>&1; then
  echo "check-packages: libloyalty is still installed after the purge" >&2
  exit 1
fi
# What a purge keeps on purpose (the ledger, its user, the operator's certificates) goes too, so
# that this machine is as before.
rm -rf /etc/loyalty /var/lib/loyalty
userdel loyalty
echo "check-packages: installed, checked, used and removed: ${packages[*]}"
