#!/usr/bin/env node
// The files a lint pass covers when it must leave some alone (or cover only some): a list file of git
// pathspec globs, one a line (`#` comments), used either way round.
//   node tools/lint/files.mjs --exclude LIST   every tracked or untracked-not-ignored file but those
//   node tools/lint/files.mjs --only LIST      just those
// Prints the files NUL-separated (for `xargs -0` / `mapfile -d ''`); exit 2 on bad arguments.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The pathspecs for `git ls-files` that select what `mode` ('exclude' | 'only') of `listFile` means. */
export function pathspecs(mode, listFile) {
  const globs = readFileSync(listFile, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  return mode === 'exclude' ? ['.', ...globs.map((g) => `:(exclude,glob)${g}`)] : globs.map((g) => `:(glob)${g}`);
}

/** The files `git ls-files` lists for these pathspecs (tracked, and untracked ones git does not ignore). */
export function listFiles(specs) {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...specs], {
    encoding: 'utf8',
  });
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr.trim()}`);
  return [...new Set(listed.stdout.split('\0').filter(Boolean))];
}

/** Reads `--exclude LIST` or `--only LIST` from args (removing it); null when neither is there. */
export function takeSelection(args) {
  for (const flag of ['--exclude', '--only']) {
    const at = args.indexOf(flag);
    if (at === -1) continue;
    const listFile = args[at + 1];
    if (!listFile) throw new Error(`${flag} takes a file of pathspec globs, one a line`);
    args.splice(at, 2);
    return { mode: flag.slice(2), listFile };
  }
  return null;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  let selection;
  try {
    selection = takeSelection(args);
    if (!selection || args.length > 0) throw new Error('usage: files.mjs --exclude LIST | --only LIST');
    process.stdout.write(listFiles(pathspecs(selection.mode, selection.listFile)).join('\0'));
  } catch (err) {
    console.error(`lint files: ${err.message}`);
    process.exit(2);
  }
}
