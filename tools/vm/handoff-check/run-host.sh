#!/bin/bash
# Real-kernel check of the handoff lease in a QEMU guest (no hardware needed).
# Usage: run-host.sh INITRD [xhci|ehci]   (INITRD: tools/vm/build-initramfs.sh output, e.g. .vm-work/initrd.gz)
# Transpiles core's handoff and topology sources (no build needed), shares them with the guest over 9p, boots, and
# prints
# PASS/FAIL lines; exits 0 only if every check passed.
set -euo pipefail
INITRD=${1:?usage: run-host.sh INITRD [xhci|ehci]}; HC=${2:-xhci}
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../../.." && pwd)
KV=$(ls /lib/modules | sort -V | tail -1)
W=$(mktemp -d /tmp/usbscsi-handoff-vm.XXXXXX); trap 'rm -rf "$W"' EXIT
mkdir -p "$W/share/lib/handoff" "$W/share/lib/topology" "$W/share/lib/usb" "$W/share/node_modules" "$W/out"
cp "$HERE"/*.mjs "$HERE/guest.sh" "$W/share/"
cp "/lib/modules/$KV/kernel/crypto/crc32c_generic.ko" "$W/share/"
usb_pkg="$REPO/node_modules/.pnpm/usb@3.1.0/node_modules"
cp -rL "$usb_pkg/usb" "$usb_pkg/@node-usb" "$W/share/node_modules/"
node --input-type=module -e "
import ts from '$REPO/node_modules/typescript/lib/typescript.js';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
const src = '$REPO/packages/core/src', out = '$W/share/lib';
writeFileSync(out + '/package.json', '{\"type\":\"module\"}');
const sources = (dir) => readdirSync(src + '/' + dir)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.startsWith('darwin') && f !== 'index.ts')
  .map((f) => dir + '/' + f);
const files = ['errors.ts', 'usb/backend.ts', 'handoff/index.ts', ...sources('handoff'), ...sources('topology')];
const compilerOptions = { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true };
for (const f of files) {
  const js = ts.transpileModule(readFileSync(src + '/' + f, 'utf8'), { compilerOptions }).outputText;
  writeFileSync(out + '/' + f.replace(/\.ts\$/, '.js'), js);
}
"
truncate -s 64M "$W/disk.img"
case $HC in
  xhci) DEV=(-device qemu-xhci,id=hc -device usb-storage,bus=hc.0,drive=stick,serial=HVM1) ;;
  ehci) DEV=(-device usb-ehci,id=hc -device usb-storage,bus=hc.0,drive=stick,serial=HVM1) ;;
  *) echo "unknown host controller $HC" >&2; exit 2 ;;
esac
timeout 300 qemu-system-x86_64 -machine q35 -m 1024 -smp 2 -nographic -no-reboot \
  -kernel "/boot/vmlinuz-$KV" -initrd "$INITRD" -append "console=ttyS0 quiet panic=-1 vmscript=guest.sh" \
  -drive "if=none,id=stick,file=$W/disk.img,format=raw,cache=unsafe" "${DEV[@]}" \
  -virtfs "local,path=$W/share,mount_tag=repo,security_model=none,readonly=on,id=repo" \
  -virtfs "local,path=$W/out,mount_tag=out,security_model=none,id=out" > "$W/console.log" 2>&1 || true
tr -d '\000' < "$W/console.log" | grep -aE '^(PASS|FAIL|RESULT|acquired|released)' | sed 's/\x1b\[[0-9;]*m//g'
PASSES=$(tr -d '\000' < "$W/console.log" | grep -ac '^PASS' || true)
FAILS=$(tr -d '\000' < "$W/console.log" | grep -ac '^FAIL' || true)
echo "handoff vm-check ($HC): $PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ] && [ "$PASSES" -ge 16 ]
