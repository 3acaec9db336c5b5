"""Standalone ask/tell search loop with concurrent workers and checkpoint hooks.

The objective is an ordinary function of a :class:`LoopTrial`, in the style of
Optuna::

    def objective(trial):
        model = make_model(**trial.params)
        for epoch in range(20):
            acc = train_one_epoch(model)
            if trial.report(epoch, acc).action != "continue":
                return acc            # stopped (or paused) by the policy
        return acc

    loop = hpprune.SearchLoop(objective, space, policy, direction="maximize", n_workers=2)
    result = loop.run(n_trials=40)

:meth:`SearchLoop.run` drives the objective on ``n_workers`` threads that share
one :class:`~hpprune.engine.Engine` behind a lock (the engine itself is not
thread-safe). Threads are enough for numpy, scikit-learn, PyTorch and most
numeric code because they release the GIL inside their heavy kernels; pure
Python objectives will not run in parallel.

For users who run trials on their own workers, :meth:`SearchLoop.ask` and
:meth:`SearchLoop.tell` expose the same machinery one trial at a time.

Pause and resume: when the policy answers a report with PAUSE, the objective
should return (``action != "continue"`` covers it). The loop keeps the trial
in a paused queue together with the last state passed to
:meth:`LoopTrial.checkpoint`. When a worker is free the loop asks, in this
order, the ``chooser`` argument, else a scheduler in the policy (any policy in
the tree with ``next_trial(study)`` returning an object with ``action``
``"resume"``/``"start"``/``"none"`` and ``trial_id``, such as
:class:`hpprune.ResourceScheduler`), else :func:`default_chooser` (new trials
first, then paused ones in pause order). A resumed trial gets a RESUME
decision in the log, its objective is called again, and
:meth:`LoopTrial.restore` returns its checkpoint so training can continue.
Policies that never pause see none of this.

Where things live: :mod:`~hpprune.loop.search` (SearchLoop itself),
:mod:`~hpprune.loop.trial` (LoopTrial), :mod:`~hpprune.loop.results`
(TrialRecord, LoopResult), :mod:`~hpprune.loop.resume` (what a free worker
runs next), :mod:`~hpprune.loop.recovery` (continuing a log, failing
abandoned trials), :mod:`~hpprune.loop.checkpoints`,
:mod:`~hpprune.loop.optuna_sampling` (the ``sampler=`` glue),
:mod:`~hpprune.loop.threads` (budget and worker threads) and
:mod:`~hpprune.loop.progress` (the progress bar).
"""

from hpprune.loop.recovery import ABANDONED
from hpprune.loop.results import LoopResult, TrialRecord
from hpprune.loop.resume import (
    LOOP_RULE,
    Choice,
    Chooser,
    NoTrialAvailableError,
    choose_next,
    default_chooser,
)
from hpprune.loop.search import Objective, SearchLoop
from hpprune.loop.trial import LoopTrial

__all__ = [
    "ABANDONED",
    "LOOP_RULE",
    "Choice",
    "Chooser",
    "LoopResult",
    "LoopTrial",
    "NoTrialAvailableError",
    "Objective",
    "SearchLoop",
    "TrialRecord",
    "choose_next",
    "default_chooser",
]
