"""A Tune driver for the cluster test: ``python -m tests.integrations.ray_cluster_driver``.

It connects to an existing Ray cluster (``--address``), and either starts an
experiment (``fit``) or continues one with ``Tuner.restore`` (``restore``).
Trials replay fixed loss curves, one epoch per ``--epoch-s`` seconds, report
the Ray node they run on (one small JSON file per epoch in ``config["marks"]``,
a folder both nodes see), and checkpoint every epoch, so a restored
trial continues from its last checkpoint.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune import Checkpoint

import hpprune
from hpprune.integrations.ray_tune import RayTuneScheduler


def cluster_trainable(config: dict[str, Any]) -> None:
    """Replay ``config["curves"][config["i"]]`` from the last checkpoint on, reporting the node."""
    curve = config["curves"][config["i"]]
    node = ray.get_runtime_context().get_node_id()
    trial_id = tune.get_context().get_trial_id()
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            start = int(json.loads(Path(folder, "state.json").read_text())["epoch"])
    for epoch in range(start + 1, len(curve) + 1):
        time.sleep(float(config["epoch_s"]))
        mark = {"trial": trial_id, "epoch": epoch, "node": node, "restored_from": start}
        Path(config["marks"], f"{trial_id}-{epoch}-{time.monotonic_ns()}.json").write_text(
            json.dumps(mark)
        )
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "state.json").write_text(json.dumps({"epoch": epoch}))
            tune.report(
                {"loss": curve[epoch - 1], "restored_from": start},
                checkpoint=Checkpoint.from_directory(folder),
            )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["fit", "restore"])
    p.add_argument("--address", required=True)
    p.add_argument("--storage", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--curves", help="JSON list of loss curves (fit only)")
    p.add_argument("--policy", help="policy.to_dict() as JSON (fit only)")
    p.add_argument("--marks", help="folder for the per-epoch node marks (fit only)")
    p.add_argument("--epoch-s", type=float, default=0.3)
    args = p.parse_args()
    ray.init(address=args.address, log_to_driver=False, configure_logging=False)
    trainable = tune.with_resources(cluster_trainable, {"cpu": 1})
    if args.command == "restore":
        tuner = tune.Tuner.restore(str(Path(args.storage, args.name)), trainable)
    else:
        curves = json.loads(args.curves)
        scheduler = RayTuneScheduler(hpprune.policy_from_dict(json.loads(args.policy)))
        tuner = tune.Tuner(
            trainable,
            param_space={
                "i": tune.grid_search(list(range(len(curves)))),
                "curves": curves,
                "epoch_s": args.epoch_s,
                "marks": args.marks,
            },
            tune_config=tune.TuneConfig(
                scheduler=scheduler, metric="loss", mode="min", max_concurrent_trials=2
            ),
            run_config=tune.RunConfig(storage_path=args.storage, name=args.name, verbose=0),
        )
    results = tuner.fit()
    print(json.dumps({"n_results": len(results), "errors": len(results.errors)}))


if __name__ == "__main__":
    main()
