#!/usr/bin/env bash
# Builds linux-x64 and linux-arm64 (glibc) in the bullseye build environment and copies them
# to native/prebuilds/linux-<arch>-glibc/. Needs root (chroot).
#   tools/prebuild/build-linux.sh [x64] [arm64]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$here/common.sh"
# One build at a time per machine: the cached build root and libusb builds are shared.
mkdir -p "$CACHE" && exec 9>"$CACHE/.lock" && flock 9
arches=("$@"); (( ${#arches[@]} )) || arches=(x64 arm64)

root="$("$here/build-env.sh" | tail -n1)"
libusb="$("$here/fetch-libusb.sh" | tail -n1)"
native="$repo/native"
addon_headers "$native"

# The environment sees only what the build needs: sources, headers, libusb's source.
stage="$root/build"
rm -rf "$stage" && mkdir -p "$stage/native" "$stage/headers/uv" "$stage/libusb-src"
cp -a "$native/CMakeLists.txt" "$native/src" "$stage/native/"
cp -a "$api_dir" "$stage/headers/node-api"
cp -a "$addon_api_dir" "$stage/headers/node-addon-api"
cp -a "$uv_dir/uv.h" "$uv_dir/uv" "$stage/headers/uv/"
cp -a "$libusb/." "$stage/libusb-src/"
cp "$here/build-in-env.sh" "$stage/"

for arch in "${arches[@]}"; do
  start=$SECONDS
  log "linux-$arch: building libusb $LIBUSB_VERSION (static, no udev) and the addon in $BUILD_SUITE"
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LIBUSB_VERSION="$LIBUSB_VERSION" JOBS="${JOBS:-$(nproc)}" \
    /bin/sh /build/build-in-env.sh "$arch" >"$CACHE/linux-$arch.log" 2>&1 \
    || { tail -n 40 "$CACHE/linux-$arch.log" >&2; die "linux-$arch build failed (log: $CACHE/linux-$arch.log)"; }
  out="$native/prebuilds/linux-$arch-glibc"
  mkdir -p "$out"
  cp "$stage/$arch/out/usbscsi_native.node" "$out/usbscsi_native.node"
  log "linux-$arch: built in $((SECONDS - start)) s -> ${out#"$repo"/}/usbscsi_native.node"
done
