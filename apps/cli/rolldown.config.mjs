// The `usbscsi` binary as one bundle with lazily loaded chunks (see README "How it is built"):
// start-up is dominated by Node loading and compiling modules, so the build ships a few minified,
// ASCII-only files instead of a hundred modules across four packages. Every dynamic import stays a
// split point, so a command still loads only what it uses.
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** dist/chunks.json: each chunk's source modules, for the tests of what a run loads (not packed). */
const chunkManifest = {
  name: 'chunk-manifest',
  generateBundle(_options, bundle) {
    const chunks = {};
    for (const [file, output] of Object.entries(bundle))
      if (output.type === 'chunk')
        chunks[file] = output.moduleIds.map((id) => (id.startsWith('\0') ? id.slice(1) : relative(repo, id)));
    this.emitFile({ type: 'asset', fileName: 'chunks.json', source: JSON.stringify(chunks, null, 1) + '\n' });
    this.emitFile({ type: 'asset', fileName: 'package.json', source: '{ "type": "commonjs" }\n' });
  },
};

/**
 * commander requires node:child_process at load for executable subcommands, which usbscsi has none
 * of; that module (with net and dgram behind it) is a measurable part of every start. commander gets
 * a stand-in that loads it on first use.
 */
const LAZY_CHILD_PROCESS = '\0lazy-child-process';
const isCommanderChildProcess = (id, importer) =>
  id === 'node:child_process' && importer !== undefined && /[\\/]commander[\\/]/.test(importer);
const lazyChildProcessForCommander = {
  name: 'lazy-child-process-for-commander',
  resolveId(source, importer) {
    return isCommanderChildProcess(source, importer) ? LAZY_CHILD_PROCESS : null;
  },
  load(id) {
    if (id !== LAZY_CHILD_PROCESS) return null;
    return (
      'let loaded;\n' +
      "module.exports = new Proxy({}, { get: (_, key) => (loaded ??= require('node:child_process'))[key] });\n"
    );
  },
};

export default {
  input: {
    main: 'src/main.ts',
    // What a lease's after-exit helper imports (core's exit-helper.ts names `./exit-recovery.js`
    // next to the chunk that holds it): an entry, so that it exists under that name.
    'exit-recovery': resolve(repo, 'packages/core/dist/handoff/exit-recovery.js'),
  },
  platform: 'node',
  // The engines core loads at run time, resolved from this package's own (optional) dependencies.
  external: (id, importer) =>
    /^@usbscsi\/native(\/|$)|^usb(\/|$)/.test(id) || (id.startsWith('node:') && !isCommanderChildProcess(id, importer)),
  checks: { ineffectiveDynamicImport: false },
  plugins: [lazyChildProcessForCommander, chunkManifest],
  output: {
    dir: 'dist',
    cleanDir: true,
    // CommonJS: Node 20 loads it faster than ES modules, and its compile cache (compile-cache.ts)
    // covers it. dist/package.json says so to Node.
    format: 'cjs',
    // External dynamic imports (node: modules, `usb`) as require(): compile-cache.ts compiles the
    // chunks with vm.Script, whose import() needs an experimental loader on Node 20.
    dynamicImportInCjs: false,
    entryFileNames: '[name].js',
    // The content hash in the name is what lets compile-cache.ts trust a chunk's cache.
    chunkFileNames: '[name].[hash].js',
    // Non-ASCII text (…, █, ─) would make V8 hold and scan the whole file as two-byte source.
    charset: 'ascii',
    // Whitespace and dead code out, names kept: stack traces (--verbose) stay readable.
    minify: { compress: true, mangle: { keepNames: true } },
    codeSplitting: {
      groups: [
        // What every run needs (the program, commander, the command table) in one chunk.
        { name: 'cli', test: /apps[\\/]cli[\\/]src[\\/]cli\.ts$/, includeDependenciesRecursively: true },
      ],
    },
  },
};
