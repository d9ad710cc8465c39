#!/usr/bin/env bash
# Fetches libusb's source from the Debian registry (the source package libusb-1.0, pinned
# version), checks the upstream tarball against the pinned SHA-256, and unpacks it into
# $CACHE/src/libusb-$LIBUSB_VERSION. apt runs with a private configuration (state, lists and
# sources under $CACHE/apt): the machine's own Debian sources, with deb-src added. Prints the
# unpacked directory on the last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/common.sh"

src="$CACHE/src/libusb-$LIBUSB_VERSION"
dl="$CACHE/src/download"
if [[ -f "$src/.usbscsi-verified" ]]; then
  log "libusb $LIBUSB_VERSION source: cached ($src)"
  echo "$src"
  exit 0
fi

apt_dir="$CACHE/apt"
mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dl"
rm -f "$apt_dir/sources.list.d/"*
shopt -s nullglob
n=0
for f in /etc/apt/sources.list.d/*.sources; do
  # deb822: add deb-src beside every deb.
  sed -E 's/^Types:.*/Types: deb deb-src/' "$f" >"$apt_dir/sources.list.d/$(basename "$f")"; n=$((n + 1))
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [[ -f "$f" ]] || continue
  {
    grep -E '^deb ' "$f" || true
    grep -E '^deb ' "$f" | sed 's/^deb /deb-src /' || true
  } >"$apt_dir/sources.list.d/$(basename "$f").list"
  n=$((n + 1))
done
(( n > 0 )) || die "no apt sources on this machine to take deb-src from"
apt_opts=(-o "Dir::Etc::sourcelist=/dev/null" -o "Dir::Etc::sourceparts=$apt_dir/sources.list.d"
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "Debug::NoLocking=1")
log "libusb $LIBUSB_VERSION source: apt-get source (deb-src of the machine's Debian sources)"
apt-get "${apt_opts[@]}" update -qq >"$CACHE/apt-source.log" 2>&1 \
  || { tail -n 20 "$CACHE/apt-source.log" >&2; die "apt-get update for deb-src failed (log: $CACHE/apt-source.log)"; }
(cd "$dl" && apt-get "${apt_opts[@]}" source --download-only "libusb-1.0=$LIBUSB_DEB_VERSION") \
  >>"$CACHE/apt-source.log" 2>&1 \
  || {
    tail -n 20 "$CACHE/apt-source.log" >&2
    die "apt-get source libusb-1.0=$LIBUSB_DEB_VERSION failed (log: $CACHE/apt-source.log)"
  }
got="$(sha256sum "$dl/$LIBUSB_ORIG" | cut -d' ' -f1)"
[[ "$got" == "$LIBUSB_ORIG_SHA256" ]] || die "$LIBUSB_ORIG: SHA-256 $got, pinned $LIBUSB_ORIG_SHA256"
rm -rf "$src" && mkdir -p "$src"
tar -xjf "$dl/$LIBUSB_ORIG" -C "$src" --strip-components=1
touch "$src/.usbscsi-verified"
log "libusb $LIBUSB_VERSION source: verified (sha256 $got) and unpacked ($src)"
echo "$src"
