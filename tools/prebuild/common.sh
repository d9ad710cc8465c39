# Shared by the prebuild scripts (sourced). Paths, the pinned libusb, and the Debian mirror,
# which is read from this machine's apt configuration: no mirror is written in this repository.
# shellcheck shell=bash

# libusb: Debian's source package, pinned by version and by the upstream tarball's SHA-256.
LIBUSB_DEB_VERSION='2:1.0.26-1'
LIBUSB_VERSION='1.0.26'
LIBUSB_ORIG="libusb-1.0_${LIBUSB_VERSION}.orig.tar.bz2"
LIBUSB_ORIG_SHA256='12ce7a61fc9854d1d2a1ffe095f7b5fac19ddba095c259e6067a46500381b5a5'

# Debian 11 (glibc 2.31) is the oldest glibc the linux binaries must load on.
BUILD_SUITE='bullseye'
GLIBC_FLOOR='2.31'

if [[ "$(id -u)" -eq 0 ]]; then CACHE="${USBSCSI_PREBUILD_CACHE:-/var/cache/usbscsi-prebuild}"
else CACHE="${USBSCSI_PREBUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/usbscsi-prebuild}"; fi

log() { echo "prebuild: $*"; }
die() { echo "prebuild: FAIL: $*" >&2; exit 1; }

# The first Debian archive URI in the machine's apt sources (deb822 .sources or one-line
# sources.list), skipping the security archive.
debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    uri="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "$f" | grep -v -- '-security' | head -n1)"
    [[ -n "$uri" ]] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    uri="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f" \
      | grep -v -- '-security' | head -n1)"
    [[ -n "$uri" ]] && { echo "$uri"; return; }
  done
  return 1
}

# The headers the addon compiles against, for every target: Node's uv.h (the running Node's
# own, or USBSCSI_UV_INCLUDE), the Node-API headers cmake-js uses, node-addon-api. Sets uv_dir,
# api_dir and addon_api_dir; $1 is the native package's directory.
addon_headers() {
  local native="$1"
  uv_dir="${USBSCSI_UV_INCLUDE:-$(node -p "require('path').resolve(process.execPath, '../../include/node')")}"
  [[ -f "$uv_dir/uv.h" ]] || die "Node's uv.h not found in $uv_dir (set USBSCSI_UV_INCLUDE)"
  api_dir="$(cd "$native" \
    && node -p "require(require.resolve('node-api-headers', { paths: [require.resolve('cmake-js')] })).include_dir")"
  addon_api_dir="$(cd "$native" && node -p "require('path').resolve(require('node-addon-api').include_dir)")"
}
