#!/usr/bin/env node
// No line over 120 characters in any source file git tracks or would track (not ignored).
// Prettier wraps code at 120 but not comments, strings or template literals, and it does not
// format C/C++, shell or CMake at all: this check covers what it leaves. Exit 1 and one
// `path:line: N characters` per long line; exit 2 on bad arguments or outside a git work tree.
// Markdown is prose (tables and links run long) and pnpm-lock.yaml is pnpm's.
//   node tools/lint/line-length.mjs [--max 120] [--exclude LIST | --only LIST] [path ...]
// Paths are files or folders, as git ls-files takes them; default: the current directory down. LIST:
// a file of pathspec globs (see files.mjs), the files to leave out or the only ones to check.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathspecs, takeSelection } from './files.mjs';

const SOURCE = /\.(ts|mts|cts|js|mjs|cjs|json|ya?ml|cc|cpp|c|h|hpp|sh|service|plist)$|(^|\/)CMakeLists\.txt$/;
const SKIP = /(^|\/)pnpm-lock\.yaml$/;

const args = process.argv.slice(2);
let max = 120;
const maxAt = args.indexOf('--max');
if (maxAt !== -1) {
  max = Number(args[maxAt + 1]);
  args.splice(maxAt, 2);
  if (!Number.isInteger(max) || max < 1) {
    console.error('line-length: --max takes a positive integer');
    process.exit(2);
  }
}

let selection;
try {
  selection = takeSelection(args);
} catch (err) {
  console.error(`line-length: ${err.message}`);
  process.exit(2);
}
const specs = selection ? [...args, ...pathspecs(selection.mode, selection.listFile)] : args;
const gitArgs = ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...specs];
const listed = spawnSync('git', gitArgs, { encoding: 'utf8' });
if (listed.status !== 0) {
  console.error(`line-length: git ls-files failed (run it inside a git work tree): ${listed.stderr.trim()}`);
  process.exit(2);
}
const files = listed.stdout.split('\0').filter((f) => f && SOURCE.test(f) && !SKIP.test(f));

let long = 0;
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    continue; // listed by git but deleted in the work tree
  }
  text.split('\n').forEach((line, i) => {
    const length = [...line.replace(/\r$/, '')].length;
    if (length > max) {
      long += 1;
      console.log(`${file}:${i + 1}: ${length} characters`);
    }
  });
}
if (long > 0) {
  console.log(`line-length: ${long} line(s) over ${max} characters in ${files.length} files checked`);
  process.exit(1);
}
console.log(`line-length: ${files.length} files, no line over ${max} characters`);
