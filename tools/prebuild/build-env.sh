#!/usr/bin/env bash
# Makes (once) the build environment of the linux binaries: a minimal Debian 11 (bullseye) root
# made from Debian packages, with g++, cmake and Debian's aarch64 cross toolchain. Built there,
# the binaries need no newer glibc than 2.31 (Debian 11, Ubuntu 20.04); built on Debian 12 they
# would pick up GLIBC_2.34 symbol versions. Cached in $CACHE/bullseye; a fresh machine builds
# it from scratch. Prints the root's path on the last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/common.sh"

root="$CACHE/$BUILD_SUITE"
packages=(g++ make cmake g++-aarch64-linux-gnu file)
stamp="$root/.usbscsi-prebuild-env"
want="$BUILD_SUITE ${packages[*]}"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  log "build environment: cached ($root)"
  echo "$root"
  exit 0
fi
[[ "$(id -u)" -eq 0 ]] || die "making the $BUILD_SUITE build environment needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || die "debootstrap is not installed (tools/setup/install-deps.sh installs it)"
mirror="$(debian_mirror)" || die "no Debian mirror found in /etc/apt/sources.list{,.d}"

start=$SECONDS
rm -rf "$root"
mkdir -p "$CACHE"
log "build environment: debootstrap $BUILD_SUITE (minbase) from the machine's Debian mirror"
debootstrap --variant=minbase "$BUILD_SUITE" "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
  || { tail -n 20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
cleanup() { umount "$root/proc" 2>/dev/null || true; }
trap cleanup EXIT
mount -t proc proc "$root/proc"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${packages[*]} && apt-get clean" \
  >"$CACHE/apt.log" 2>&1 || {
  tail -n 20 "$CACHE/apt.log" >&2
  die "installing the toolchain in $BUILD_SUITE failed (log: $CACHE/apt.log)"
}
echo "$want" >"$stamp"
log "build environment: made in $((SECONDS - start)) s ($root)"
echo "$root"
