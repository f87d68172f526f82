#!/bin/bash
# tests/run.sh — the README's test command: set up (Debian packages, .venv, build) and run
# every ctest suite, printing ctest's summary.   tests/run.sh [--sanitize] [ctest args...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
setup=(--python); build="$here/build"
if [ "${1:-}" = "--sanitize" ]; then setup+=(--sanitize); build="$here/build-asan"; shift; fi
"$here/tests/setup.sh" "${setup[@]}" "$build"
cd "$build"
ctest -j "$(nproc)" --output-on-failure "$@"
