#!/usr/bin/env bash
# Builds darwin-arm64 and darwin-x64 on Linux: clang + lld against a macOS SDK (found as
# tools/macos-check finds it), with a static libusb built from the same Debian source, into
# native/prebuilds/darwin-<arch>/. Where no SDK is present it prints "skipped: no macOS SDK"
# and exits 0.
#   tools/prebuild/build-darwin.sh [arm64] [x64]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$here/common.sh"
arches=("$@"); (( ${#arches[@]} )) || arches=(arm64 x64)

sdk="${MACOS_SDK:-}"
[[ -z "$sdk" && -d /tmp/macsdk/root ]] && sdk=/tmp/macsdk/root
[[ -z "$sdk" ]] && command -v xcrun >/dev/null 2>&1 && sdk="$(xcrun --show-sdk-path 2>/dev/null || true)"
if [[ -z "$sdk" || ! -d "$sdk/System/Library/Frameworks/IOKit.framework" ]]; then
  for arch in "${arches[@]}"; do
    echo "prebuild: darwin-$arch: skipped: no macOS SDK (set MACOS_SDK to an SDK root)"
  done
  exit 0
fi
# One build at a time per machine: the cached build root and libusb builds are shared.
mkdir -p "$CACHE" && exec 9>"$CACHE/.lock" && flock 9
for tool in clang clang++ llvm-ar llvm-ranlib llvm-strip lld; do
  command -v "$tool" >/dev/null 2>&1 \
    || die "$tool is not installed (tools/setup/install-deps.sh installs clang, lld and llvm)"
done

libusb="$("$here/fetch-libusb.sh" | tail -n1)"
native="$repo/native"
addon_headers "$native"
jobs="${JOBS:-$(nproc)}"

shopt -s nullglob
sources=("$native"/src/common/*.cc "$native"/src/darwin/*.cc)
for arch in "${arches[@]}"; do
  start=$SECONDS
  case "$arch" in
    arm64) target=arm64-apple-macos11; host=aarch64-apple-darwin ;;
    x64) target=x86_64-apple-macos11; host=x86_64-apple-darwin ;;
    *) die "unknown darwin arch $arch" ;;
  esac
  work="$CACHE/darwin-$arch"
  rm -rf "$work/obj" "$work/uv" && mkdir -p "$work/obj" "$work/uv"
  cp -a "$uv_dir/uv.h" "$uv_dir/uv" "$work/uv/"
  log "darwin-$arch: building libusb $LIBUSB_VERSION (static) and the addon against $sdk"
  # The static libusb is kept between runs, keyed by its version and the SDK.
  prefix="$work/libusb-$LIBUSB_VERSION"
  if [[ "$(cat "$prefix/.done" 2>/dev/null)" != "$sdk" ]]; then
    rm -rf "$prefix" "$work/libusb-build" && mkdir -p "$work/libusb-build"
    (cd "$work/libusb-build" && "$libusb/configure" --host="$host" --prefix="$prefix" --enable-static \
        --disable-shared --with-pic CC="clang -target $target -isysroot $sdk" CFLAGS="-O2" \
        AR=llvm-ar RANLIB=llvm-ranlib LDFLAGS="-fuse-ld=lld -Wl,-syslibroot,$sdk" >configure.log 2>&1 \
      && make -j"$jobs" -C libusb >make.log 2>&1 && make -C libusb install >>make.log 2>&1) \
      || {
        tail -n 30 "$work/libusb-build/"*.log >&2
        die "darwin-$arch: libusb build failed (logs: $work/libusb-build)"
      }
    echo "$sdk" >"$prefix/.done"
  fi
  flags=(-target "$target" -isysroot "$sdk" -stdlib=libc++ -std=c++17 -O3 -DNDEBUG -Wall -Wextra -fexceptions
    -DBUILDING_NODE_EXTENSION -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED
    -isystem "$api_dir" -isystem "$addon_api_dir" -isystem "$work/uv" -I"$prefix/include/libusb-1.0")
  printf '%s\n' "${sources[@]}" \
    | xargs -P "$jobs" -I{} sh -c 'clang++ "$@" -c "{}" -o "'"$work"'/obj/$(echo "{}" | tr / _).o"' _ "${flags[@]}" \
    2>"$work/compile.log" || { cat "$work/compile.log" >&2; die "darwin-$arch: compile failed"; }
  [[ -s "$work/compile.log" ]] && {
    cat "$work/compile.log" >&2
    die "darwin-$arch: the compiler warned (log: $work/compile.log)"
  }
  out="$native/prebuilds/darwin-$arch"
  mkdir -p "$out"
  clang++ -target "$target" -isysroot "$sdk" -stdlib=libc++ -fuse-ld=lld -Wl,-syslibroot,"$sdk" -bundle \
    -undefined dynamic_lookup "$work"/obj/*.o "$prefix/lib/libusb-1.0.a" \
    -framework IOKit -framework CoreFoundation -framework DiskArbitration -framework Security \
    -o "$out/usbscsi_native.node" || die "darwin-$arch: link failed"
  llvm-strip -x "$out/usbscsi_native.node"
  log "darwin-$arch: built in $((SECONDS - start)) s -> ${out#"$repo"/}/usbscsi_native.node"
done
