#!/bin/sh
# Regenerates every demo and benchmark number the README and docs cite.
# Run from the repository root: sh docs/results/regenerate.sh
set -e
hpprune demo --workers 1 --seed 0 --no-progress -o docs/results/demo.jsonl --record docs/results/demo.json
hpprune bench lcbench --quick --jobs 1 --no-progress -o docs/results/bench-quick
