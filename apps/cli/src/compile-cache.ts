/**
 * V8's code cache for the bundle's chunks: most of a short command's start-up is Node compiling
 * the chunks it loads, and a chunk compiled once need not be compiled again.
 *
 * Node 22.1 and later do this themselves (`module.enableCompileCache`); there this module only
 * switches that on. On Node 20, where Node has no such cache, it compiles the chunks itself
 * (`vm.Script` with `cachedData`, as Node's own CommonJS loader would compile them) and keeps
 * each chunk's cache in `$XDG_CACHE_HOME/usbscsi` (default `~/.cache/usbscsi`), one directory per
 * Node version and architecture.
 *
 * Why it is safe to trust a cache file:
 * - Only chunks whose file names carry their content hash are cached, and the cache file is named
 *   after the chunk: a changed chunk has a new name. (V8 itself checks only the source's length,
 *   its own version and flags.)
 * - A cache file is code. One is read only when it and its directory belong to this process's
 *   user and nobody else may write them; a `sudo usbscsi` never runs what another user wrote, and
 *   writes nothing under a directory of another user (the caller's HOME, kept by sudo).
 * - `NODE_DISABLE_COMPILE_CACHE=1` (Node's own switch) turns it off.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import Module, { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

/** `name.<8-character content hash>.js`: the bundle's chunk names (rolldown.config.mjs). */
const HASHED_CHUNK = /\.[A-Za-z0-9_-]{8}\.js$/;

interface CompilingModule {
  exports: unknown;
}
type Compile = (this: CompilingModule, content: string, filename: string) => unknown;

export interface CompileCacheOptions {
  env?: NodeJS.ProcessEnv;
  /** The chunks' directory (default: this file's, i.e. the bundle's). */
  chunkDir?: string;
}

/** What was switched on: Node's own cache, this module's, or nothing (and why). */
export type CompileCacheState =
  { kind: 'node' } | { kind: 'usbscsi'; directory: string } | { kind: 'off'; reason: string };

/** Safe to read code from: ours and writable by us alone. */
function ownedPrivately(stats: Stats, uid: number): boolean {
  return stats.uid === uid && (stats.mode & 0o022) === 0;
}

function cacheDirectory(env: NodeJS.ProcessEnv, uid: number): string {
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  // Only under a directory of this user: `sudo usbscsi` with the caller's HOME must not leave
  // root's files in it (which the caller could not remove, and whose directory would then turn
  // the caller's own cache off).
  const owner = existsSync(base) ? statSync(base).uid : statSync(dirname(base)).uid;
  if (owner !== uid) throw new Error(`${base} belongs to user ${owner}, not to this process's user ${uid}`);
  const directory = join(base, 'usbscsi', `v8-${process.version}-${process.arch}`);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const stats = statSync(directory);
  if (!stats.isDirectory() || !ownedPrivately(stats, uid))
    throw new Error(`${directory} is not a directory of user ${uid} that only it may write`);
  return directory;
}

function readOwnCache(file: string, uid: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined; // not cached yet
  }
  try {
    return ownedPrivately(fstatSync(fd), uid) ? readFileSync(fd) : undefined;
  } finally {
    closeSync(fd);
  }
}

export function enableCompileCache(options: CompileCacheOptions = {}): CompileCacheState {
  const env = options.env ?? process.env;
  if (env.NODE_DISABLE_COMPILE_CACHE) return { kind: 'off', reason: 'NODE_DISABLE_COMPILE_CACHE is set' };
  const nodeCache = (Module as { enableCompileCache?: () => unknown }).enableCompileCache;
  if (typeof nodeCache === 'function') {
    nodeCache();
    return { kind: 'node' };
  }
  const uid = process.geteuid?.();
  if (uid === undefined) return { kind: 'off', reason: 'needs POSIX user ids' };
  let directory: string;
  try {
    directory = cacheDirectory(env, uid);
  } catch (error) {
    return { kind: 'off', reason: error instanceof Error ? error.message : String(error) };
  }
  const chunkDir = options.chunkDir ?? dirname(fileURLToPath(import.meta.url));

  const moduleProto = Module.prototype as unknown as { _compile: Compile };
  const compile = moduleProto._compile;
  const toWrite: { script: Script; file: string }[] = [];
  moduleProto._compile = function (this: CompilingModule, content: string, filename: string): unknown {
    // A vm.Script's import() needs a loader Node 20 has only as an experiment: the bundle has
    // none (rolldown's dynamicImportInCjs: false); a chunk that did would compile as usual.
    if (dirname(filename) !== chunkDir || !HASHED_CHUNK.test(filename) || content.includes('import('))
      return compile.call(this, content, filename);
    const file = join(directory, basename(filename) + '.cache');
    const cachedData = readOwnCache(file, uid);
    const script = new Script(Module.wrap(content), { filename, cachedData });
    if (cachedData === undefined || script.cachedDataRejected === true) toWrite.push({ script, file });
    const wrapper = script.runInThisContext() as (...args: unknown[]) => unknown;
    return wrapper.call(this.exports, this.exports, createRequire(filename), this, filename, dirname(filename));
  };
  // At exit, so that the cache holds the functions this run compiled lazily, not only the top level.
  process.once('exit', () => {
    for (const { script, file } of toWrite) {
      const temporary = `${file}.${process.pid}`;
      try {
        writeFileSync(temporary, script.createCachedData(), { mode: 0o600 });
        renameSync(temporary, file);
      } catch {
        try {
          unlinkSync(temporary);
        } catch {
          // nothing was written
        }
      }
    }
  });
  return { kind: 'usbscsi', directory };
}
