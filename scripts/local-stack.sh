#!/usr/bin/env bash
# Starts Rampart on the local stack (workerd with local Durable Objects and KV),
# loads the demo flags, and prints how to use it. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "rampart: installing dependencies (npm ci)…"
  npm ci --no-audit --no-fund
fi
if [ ! -f .dev.vars ]; then
  cp .dev.vars.example .dev.vars
  echo "rampart: created .dev.vars from .dev.vars.example (local tokens)"
fi
exec node_modules/.bin/tsx scripts/local-stack.ts "$@"
