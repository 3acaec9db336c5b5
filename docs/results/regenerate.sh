#!/bin/sh
# Regenerates every demo and benchmark number the README and docs cite.
# Run from the repository root: sh docs/results/regenerate.sh
set -e
hpprune demo --workers 1 --seed 0 --no-progress -o docs/results/demo.jsonl --record docs/results/demo.json
hpprune bench lcbench --quick --jobs 1 --no-progress -o docs/results/bench-quick
# The default policy's benchmark (docs/benchmarks.md, docs/default_policy.md, docs/scheduler.md):
hpprune bench lcbench --no-progress --jobs 2 -o docs/results/lcbench
python -m hpprune.bench.candidates --source lcbench --seeds 10 --workers 1 4 -o docs/results/default_candidates_lcbench.json
python -m hpprune.bench.default_cost -o docs/results/default_cost.json
M="hpprune.default hpprune.default_stop_only hpprune.resource_scheduler_sh ray.asha ray.hyperband optuna.hyperband none"
hpprune bench lcbench --tasks 167168 --seeds 10 --workers 4 --budget 2000s --methods $M --no-progress -o docs/results/wallclock/167168
hpprune bench lcbench --tasks 189906 --seeds 10 --workers 4 --budget 3000s --methods $M --no-progress -o docs/results/wallclock/189906
hpprune bench lcbench --tasks 189873 --seeds 10 --workers 4 --budget 60000s --methods $M --no-progress -o docs/results/wallclock/189873
rm -f docs/results/lcbench/runs.jsonl docs/results/wallclock/*/runs.jsonl docs/results/wallclock/*/regret.png
# Scale of a fold (docs/reliability.md): now, the engine before issue 14's scale work (66ab326)
python -m hpprune.bench.log_scale -o docs/results/log_scale.md
# and at the end of the previous session's work on it (149be06), in the same sitting:
for rev in 66ab326 149be06; do
  git worktree add --detach /tmp/hpprune-$rev $rev
  python -m hpprune.bench.log_scale --package-dir /tmp/hpprune-$rev -o docs/results/log_scale_$rev.md
  git worktree remove /tmp/hpprune-$rev
done
# Copy the summaries into the pages that quote them:
python -m hpprune.bench.docs docs
