#!/bin/sh
# Runs inside the bullseye build environment (copied to /build by build-linux.sh):
# builds a static libusb (no udev) and the addon linked against it, for one architecture.
#   /build/build-in-env.sh x64|arm64
set -eu
arch="$1"
case "$arch" in
  x64) host=x86_64-linux-gnu; cc=gcc; cxx=g++; strip=strip; cross="" ;;
  arm64) host=aarch64-linux-gnu; cc=aarch64-linux-gnu-gcc; cxx=aarch64-linux-gnu-g++; strip=aarch64-linux-gnu-strip
         cross="-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64" ;;
  *) echo "build-in-env: unknown arch $arch" >&2; exit 2 ;;
esac
jobs="${JOBS:-2}"
work="/build/$arch"
rm -rf "$work" && mkdir -p "$work/addon" "$work/out"

# The static libusb is kept between runs (outside /build), keyed by its version.
libusb="/opt/libusb-$LIBUSB_VERSION-$arch"
if [ ! -f "$libusb/.done" ]; then
  rm -rf "$libusb" "$work/libusb-build" && mkdir -p "$work/libusb-build" && cd "$work/libusb-build"
  # --with-pic: the archive is linked into a shared object. --disable-udev: no libudev at run
  # time (hotplug then uses netlink).
  /build/libusb-src/configure --host="$host" --prefix="$libusb" --enable-static --disable-shared \
    --disable-udev --with-pic CC="$cc" CFLAGS="-O2" >configure.log 2>&1 || { tail -n 30 configure.log; exit 1; }
  make -j"$jobs" -C libusb >make.log 2>&1 || { tail -n 30 make.log; exit 1; }
  make -C libusb install >>make.log 2>&1
  touch "$libusb/.done"
fi

# shellcheck disable=SC2086
cmake -S /build/native -B "$work/addon" -DCMAKE_BUILD_TYPE=Release $cross \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS=-DBUILDING_NODE_EXTENSION \
  -DCMAKE_JS_INC=/build/headers/node-api -DNODE_ADDON_API_DIR=/build/headers/node-addon-api \
  -DUSBSCSI_UV_INCLUDE=/build/headers/uv -DUSBSCSI_LIBUSB_PREFIX="$libusb" \
  -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$work/out" >"$work/cmake.log" 2>&1 || { tail -n 30 "$work/cmake.log"; exit 1; }
cmake --build "$work/addon" -j "$jobs" >>"$work/cmake.log" 2>&1 || { tail -n 40 "$work/cmake.log"; exit 1; }
"$strip" --strip-unneeded "$work/out/usbscsi_native.node"
echo "$work/out/usbscsi_native.node"
