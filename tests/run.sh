#!/usr/bin/env bash
# The README's test command: set this machine up for the whole test suite, then run it.
#
#   bash tests/run.sh              # everything (CI runs exactly this: .ci/run)
#   bash tests/run.sh -m fast      # any pytest arguments: here the quick selection
#
# On a fresh Debian/Ubuntu machine (root, or sudo) with Python >= 3.10, in a virtual environment
# if one is active, it installs what the tests use and is missing (each step is skipped when done):
#   - Debian's stockfish (the chess tests' engine), chromium (the web page's browser tests) and
#     bubblewrap (the coding sandbox's strongest mode);
#   - a running Docker engine with a local python:3.11-slim image (.ci/docker-engine.sh);
#   - torch's CPU build, before the RL libraries of the [rl] extra would pull CUDA's (several GB);
#   - this package with its [test] extra (editable);
# then runs `python -m pytest` with the arguments given. On a machine already set up,
# `python -m pytest` alone is the same run.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
[ -x /usr/games/stockfish ] || missing+=(stockfish)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/bwrap ] || missing+=(bubblewrap)
if [ ${#missing[@]} -gt 0 ]; then
    echo "[tests/run.sh] apt-get install ${missing[*]}" >&2
    as_root apt-get update -qq && as_root apt-get install -y -qq "${missing[@]}"
fi

as_root .ci/docker-engine.sh

if ! python -c "import torch" 2>/dev/null; then
    # this project's machines hold the CPU build locally; elsewhere, PyTorch's CPU index has it
    python -m pip install -q "torch==2.13.0+cpu" 2>/dev/null \
        || python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
fi
python -m pip install -q -e ".[test]"
exec python -m pytest "$@"
