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
