import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// Tests run against the TypeScript sources of every workspace package, so a
// change in core is seen by the emulator, CLI and daemon tests without a build.
export default defineConfig({
  resolve: {
    alias: [
      { find: /^@usbscsi\/core\/testing$/, replacement: src('./packages/core/src/testing/index.ts') },
      { find: /^@usbscsi\/core$/, replacement: src('./packages/core/src/index.ts') },
      // The package's light entries (what a CLI run or the emulator loads instead of the root).
      { find: /^@usbscsi\/core\/errors$/, replacement: src('./packages/core/src/errors.ts') },
      { find: /^@usbscsi\/core\/hex$/, replacement: src('./packages/core/src/hex.ts') },
      { find: /^@usbscsi\/core\/open$/, replacement: src('./packages/core/src/open.ts') },
      { find: /^@usbscsi\/core\/usb$/, replacement: src('./packages/core/src/usb/index.ts') },
      { find: /^@usbscsi\/emulator$/, replacement: src('./packages/emulator/src/index.ts') },
    ],
  },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'apps/*/src/**/*.test.ts',
      'apps/*/test/**/*.test.ts',
      'tools/**/*.test.ts',
      'native/test/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**', '**/dist/**', 'tools/vm/guest/**'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
