#!/usr/bin/env bash
# Installs the machine-level dependencies on Debian 12: the toolchain for the native
# addon, QEMU + a kernel + busybox for the real-kernel tests, sg3-utils and tshark for
# cross-checks, debootstrap + llvm + file for `pnpm prebuild` (a Debian 11 build root; the
# checks of the binaries), and pnpm. Idempotent: skips what is already there.
set -euo pipefail
PACKAGES=(libusb-1.0-0-dev cmake g++ make pkg-config python3 qemu-system-x86 linux-image-amd64 busybox-static cpio kmod
  sg3-utils tshark clang lld valgrind util-linux e2fsprogs dosfstools udev
  debootstrap llvm file)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "install-deps: apt-get install ${missing[*]}"
  # apt may be locked for a while by another apt right after boot: retry.
  for i in 1 2 3 4 5 6 7 8 9 10; do
    apt-get update -qq && break || { echo "apt-get update failed (try $i), retrying in 10 s"; sleep 10; }
  done
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  for i in 1 2 3 4 5 6 7 8 9 10; do
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      >/tmp/usbscsi-apt.log 2>&1 && break
    echo "apt-get install failed (try $i), retrying in 10 s"; tail -5 /tmp/usbscsi-apt.log; sleep 10
    [ "$i" = 10 ] && { cat /tmp/usbscsi-apt.log; exit 1; }
  done
fi
want=10.34.8
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$want" ]; then
  echo "install-deps: npm install -g pnpm@$want"
  npm install -g "pnpm@$want" >/dev/null
fi
echo "install-deps: ok ($(node --version), pnpm $(pnpm --version))"
