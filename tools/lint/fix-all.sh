#!/usr/bin/env bash
# The mechanical part of the lint fix pass: prettier rewrites every file it formats, eslint applies
# its safe autofixes (never its suggestions), prettier runs again over what eslint touched. What is
# left needs a person: the findings eslint prints at the end, and the lines over 120 characters
# that prettier cannot wrap (comments, strings, C++, shell), and any type error the rewrite made:
# prettier can split a one-line import so that the `// @ts-expect-error` above it no longer covers
# it (the tests are type-checked only here, through tsconfig.eslint.json). Then `pnpm lint` must pass.
#   bash tools/lint/fix-all.sh                        the whole tree
#   bash tools/lint/fix-all.sh --exclude LIST         all but the files LIST names
#   bash tools/lint/fix-all.sh --only LIST            just the files LIST names
# LIST is a file of git pathspec globs, one a line (`#` comments); the same flags
# work on `pnpm lint`. The type check always covers the whole program.
set -euo pipefail
cd "$(dirname "$0")/../.."

selection=()
if [[ $# -gt 0 ]]; then
  case "${1:-}" in
    --exclude | --only)
      [[ $# -eq 2 && -f "$2" ]] || { echo "fix-all: $1 takes one existing list file" >&2; exit 2; }
      selection=("$1" "$2")
      ;;
    *)
      echo "usage: fix-all.sh [--exclude LIST | --only LIST]" >&2
      exit 2
      ;;
  esac
fi

if [[ ${#selection[@]} -eq 0 ]]; then
  all=(.)
  scripts=(.)
  eslint_flags=()
else
  mapfile -d '' all < <(node tools/lint/files.mjs "${selection[@]}")
  # eslint is given only what its config covers; prettier skips what it cannot format.
  scripts=()
  for f in "${all[@]}"; do [[ $f =~ \.(ts|mts|cts|js|mjs|cjs)$ ]] && scripts+=("$f"); done
  eslint_flags=(--no-warn-ignored)
fi

prettier_write() { [[ ${#all[@]} -eq 0 ]] || pnpm exec prettier --write --ignore-unknown --log-level warn "${all[@]}"; }
eslint_run() { [[ ${#scripts[@]} -eq 0 ]] || pnpm exec eslint "${eslint_flags[@]}" "$@" "${scripts[@]}"; }

prettier_write
eslint_run --fix || true
prettier_write

echo '== left for a person =='
eslint_run || true
node tools/lint/line-length.mjs "${selection[@]}" || true
pnpm exec tsc -p tsconfig.eslint.json || true
