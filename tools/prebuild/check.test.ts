// The prebuild checks must fail the binaries they exist to stop: one that links libusb
// dynamically, needs a newer glibc, or (macOS) names a Homebrew or /usr/local library.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- plain ESM JavaScript without declarations
import { checkBinary, compareVersions, foreignDylibs, newestVersion } from './check.mjs';

const sourceBuild = fileURLToPath(new URL('../../native/build/Release/usbscsi_native.node', import.meta.url));
const glibcOfHost = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };

describe('prebuild checks', () => {
  it('versions compare numerically and the newest GLIBC_ is found', () => {
    expect(compareVersions('2.30', '2.31')).toBe(-1);
    expect(compareVersions('2.4', '2.31')).toBe(-1);
    expect(compareVersions('3.4.22', '3.4.9')).toBe(1);
    expect(newestVersion(['GLIBC_2.2.5', 'GLIBC_2.30', 'GLIBC_2.4', 'GLIBCXX_3.4.29', 'GCC_3.0'], 'GLIBC')).toBe(
      '2.30',
    );
  });

  it("a macOS binary naming Homebrew's or /usr/local's libusb fails; system frameworks pass", () => {
    expect(
      foreignDylibs([
        '/System/Library/Frameworks/IOKit.framework/Versions/A/IOKit',
        '/usr/lib/libSystem.B.dylib',
        '/opt/homebrew/opt/libusb/lib/libusb-1.0.0.dylib',
        '/usr/local/lib/libusb-1.0.0.dylib',
        '@rpath/libusb-1.0.dylib',
      ]),
    ).toEqual([
      '/opt/homebrew/opt/libusb/lib/libusb-1.0.0.dylib',
      '/usr/local/lib/libusb-1.0.0.dylib',
      '@rpath/libusb-1.0.dylib',
    ]);
  });

  // The developer's source build links Debian 12's shared libusb (with udev) against glibc 2.36:
  // everything a prebuild must not be.
  it.runIf(
    process.platform === 'linux' &&
      process.arch === 'x64' &&
      existsSync(sourceBuild) &&
      (glibcOfHost.header?.glibcVersionRuntime ?? '0') > '2.33',
  )("the source build (shared libusb, this machine's glibc) fails as a linux-x64 prebuild", () => {
    const { facts, failures } = checkBinary(sourceBuild, { platform: 'linux', arch: 'x64' });
    expect(facts.needed).toContain('libusb-1.0.so.0');
    expect(failures.join('\n')).toMatch(/needs libraries outside libc\/libstdc\+\+\/libgcc_s: libusb-1\.0\.so\.0/);
    expect(failures.join('\n')).toMatch(/needs GLIBC_2\.3[4-9]/);
  });

  it.runIf(existsSync(sourceBuild))('the wrong architecture fails', () => {
    const { failures } = checkBinary(sourceBuild, {
      platform: 'linux',
      arch: process.arch === 'x64' ? 'arm64' : 'x64',
    });
    expect(failures.join('\n')).toMatch(/machine is ".*", expected/);
  });
});
