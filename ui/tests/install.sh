#!/usr/bin/env bash
# What the browser tests need, from the project's own files: Debian's
# Chromium, and the pinned npm packages (playwright-core drives it).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  (apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; })
fi
npm ci --no-audit --no-fund >/dev/null
# The copies embedded in the binary are the pinned packages' files.
cmp vendor/cytoscape.min.js node_modules/cytoscape/dist/cytoscape.min.js
cmp vendor/cytoscape-dagre.min.js node_modules/cytoscape-dagre/dist/cytoscape-dagre.min.js
chromium --version
