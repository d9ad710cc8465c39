#!/usr/bin/env bash
# Compile- and link-check the macOS half of the native addon on a machine
# without a Mac (see docs/macos.md, "What is verified").
#
# For arm64-apple-macos12 and x86_64-apple-macos11: compiles every
# native/src/darwin/*.cc plus the common sources with clang++ -Wall -Wextra
# -Werror against a macOS SDK, links them as a Mach-O bundle
# (-undefined dynamic_lookup: Node's and libusb's symbols come at load time)
# with lld and the frameworks, and checks the result with file(1).
#
# SDK: $MACOS_SDK, else /tmp/macsdk/root, else `xcrun --show-sdk-path`.
# This script fetches nothing. Without an SDK it prints
#   skipped: no macOS SDK
# and exits 0 (a skip, said loudly, never a silent pass).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
native="$repo/native"

find_sdk() {
  if [[ -n "${MACOS_SDK:-}" ]]; then echo "$MACOS_SDK"; return; fi
  if [[ -d /tmp/macsdk/root/System/Library/Frameworks/IOKit.framework ]]; then echo /tmp/macsdk/root; return; fi
  if command -v xcrun >/dev/null 2>&1; then xcrun --show-sdk-path 2>/dev/null && return; fi
  echo ""
}

sdk="$(find_sdk)"
if [[ -z "$sdk" || ! -d "$sdk/System/Library/Frameworks/IOKit.framework" ]]; then
  echo "############################################################"
  echo "skipped: no macOS SDK"
  echo "  (set MACOS_SDK to an SDK root, or extract one to /tmp/macsdk/root;"
  echo "   see docs/macos.md for the public SDK used here)"
  echo "############################################################"
  exit 0
fi

for tool in clang++ file node; do
  command -v "$tool" >/dev/null 2>&1 || { echo "macos-check: FAIL: $tool is not installed" >&2; exit 1; }
done

addon_api="$(cd "$native" && node -p "require('node-addon-api').include.replace(/\"/g, '')")"
node_headers="${NODE_HEADERS:-/usr/include/node}"
[[ -f "$node_headers/node_api.h" ]] || {
  echo "macos-check: FAIL: no node_api.h in $node_headers (set NODE_HEADERS)" >&2
  exit 1
}

# libusb for macOS is not in the SDK: its header is portable, so compile against
# the host's copy, alone in a directory (never the host's /usr/include).
libusb_header="$(pkg-config --variable=includedir libusb-1.0 2>/dev/null || echo /usr/include)/libusb-1.0/libusb.h"
[[ -f "$libusb_header" ]] || { echo "macos-check: FAIL: libusb.h not found ($libusb_header)" >&2; exit 1; }
out="$(mktemp -d "${TMPDIR:-/tmp}/usbscsi-macos-check.XXXXXX")"
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/include"
cp "$libusb_header" "$out/include/libusb.h"

shopt -s nullglob
sources=("$native"/src/*.cc "$native"/src/common/*.cc "$native"/src/darwin/*.cc)
darwin_sources=("$native"/src/darwin/*.cc)
if (( ${#darwin_sources[@]} == 0 )); then
  echo "macos-check: FAIL: no native/src/darwin/*.cc to check" >&2
  exit 1
fi

nm="$(command -v llvm-nm || ls /usr/lib/llvm-*/bin/llvm-nm 2>/dev/null | tail -n1 || true)"
[[ -n "$nm" ]] || echo "macos-check: WARNING: no llvm-nm: symbol binding check skipped"

echo "macos-check: SDK $sdk"
echo "macos-check: $(clang++ --version | head -n1)"
echo "macos-check: ${#sources[@]} sources (${#darwin_sources[@]} darwin)"

status=0
for target in arm64-apple-macos12 x86_64-apple-macos11; do
  arch="${target%%-*}"
  objdir="$out/$target"
  mkdir -p "$objdir"
  common=(-target "$target" -isysroot "$sdk" -stdlib=libc++)
  failed=0
  for src in "${sources[@]}"; do
    rel="${src#"$repo"/}"
    obj="$objdir/$(echo "$rel" | tr '/' '_').o"
    if ! clang++ "${common[@]}" -std=c++17 -Wall -Wextra -Werror -fexceptions \
        -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED \
        -I"$addon_api" -I"$node_headers" -I"$out/include" -I"$native/src" \
        -c "$src" -o "$obj"; then
      echo "macos-check: FAIL: compile $rel for $target"
      failed=1
    fi
  done
  if (( failed )); then status=1; continue; fi
  bundle="$objdir/usbscsi.node"
  if ! clang++ "${common[@]}" -fuse-ld=lld -Wl,-syslibroot,"$sdk" -bundle -undefined dynamic_lookup \
      -framework IOKit -framework CoreFoundation -framework DiskArbitration -framework Security \
      "$objdir"/*.o -o "$bundle"; then
    echo "macos-check: FAIL: link for $target"
    status=1
    continue
  fi
  kind="$(file -b "$bundle")"
  # file(1) prints e.g. "Mach-O 64-bit arm64 bundle, flags:<…>".
  if [[ "$kind" == "Mach-O 64-bit $arch bundle"* ]]; then
    echo "macos-check: ok: $target: $kind ($(wc -c <"$bundle") bytes)"
  else
    echo "macos-check: FAIL: $target: file says \"$kind\", expected \"Mach-O 64-bit $arch bundle\""
    status=1
  fi
  # -undefined dynamic_lookup would also hide a misspelt or unlinked framework
  # symbol: only Node's (napi_*, node_api_*, uv_*) and libusb's may be left open.
  if [[ -n "$nm" ]]; then
    stray="$("$nm" -m "$bundle" | grep 'dynamically looked up' | awk '{print $3}' \
      | grep -Ev '^_(napi_|node_api_|uv_|libusb_)' || true)"
    if [[ -n "$stray" ]]; then
      echo "macos-check: FAIL: $target: symbols found in no linked framework: $(echo $stray)"
      status=1
    else
      frameworks="$("$nm" -m "$bundle" | grep -o '(from [A-Za-z0-9+._-]*)' | sort -u | tr -d '()' \
        | sed 's/from //' | tr '\n' ' ')"
      echo "macos-check: ok: $target: every other symbol binds to: $frameworks"
    fi
  fi
done

if (( status == 0 )); then echo "macos-check: PASS (compile + link only; nothing here ran on a Mac)"; fi
exit $status
