#!/usr/bin/env bash
# Quick start, step 1 of 2: installs everything (apt packages, pnpm, node modules, the
# native addon when it can be built), builds the workspace, and sends INQUIRY to the
# built-in simulated device. Step 2 is `pnpm test:all`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/setup/install-deps.sh
pnpm install --frozen-lockfile
pnpm -s build
echo
echo "\$ pnpm usbscsi --device sim inquiry"
pnpm -s usbscsi --device sim inquiry
