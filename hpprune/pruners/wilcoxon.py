"""WilcoxonPruner: a paired comparison with the incumbent over problem instances.

For objectives that are a mean over instances (cross-validation folds, test
problems, benchmark questions), the step is an instance id, reported in any
order (shuffled, so that early instances do not bias the search). After each
report the trial's scores are paired with the incumbent's (the best completed
trial) on the instances both evaluated, and a one-sided Wilcoxon signed-rank
test asks whether the trial is worse. It is stopped when the p-value is below
``p_threshold``, unless its mean over the instances it evaluated is at least
as good as the incumbent's mean (a safety net: a trial that looks better on
average is never stopped).

The semantics follow Optuna's ``WilcoxonPruner`` (same parameter names), with
the reason and the numbers recorded in every decision.
"""

from __future__ import annotations

import math
from typing import Any

from scipy import stats

from hpprune import validate
from hpprune.curves import StudyView, TrialCurve
from hpprune.pruners.base import Policy
from hpprune.types import Decision, Reason, cont, stop


class WilcoxonPruner(Policy):
    """Stop a trial that a paired signed-rank test finds worse than the incumbent.

    Args:
        p_threshold: Stop when the one-sided p-value ("this trial is worse than
            the incumbent on the common instances") is below this, in [0, 1].
            The test is repeated after every report, so the false-stop rate is
            higher than ``p_threshold`` (use a corrected threshold for a
            nominal rate).
        n_startup_steps: No stopping before the trial and the incumbent share
            this many instances (at least 2 are needed for a test).

    Raises:
        TypeError: If a parameter has the wrong type.
        ValueError: If a parameter is out of range.

    Steps are instance ids in any order (``unordered_steps`` is True): the
    engine lets this policy decide every report, also one below the trial's
    highest step. Non-finite values never reach it (the engine's
    ``non_finite`` policy handles them), so every paired score is finite.
    """

    def __init__(self, *, p_threshold: float = 0.1, n_startup_steps: int = 2) -> None:
        self.p_threshold = validate.float_param(p_threshold, "p_threshold", 0.0, 1.0)
        self.n_startup_steps = validate.int_param(n_startup_steps, "n_startup_steps", 0)

    @property
    def unordered_steps(self) -> bool:
        """True: steps are instance ids, reported in any order."""
        return True

    def params(self) -> dict[str, Any]:
        return {"p_threshold": self.p_threshold, "n_startup_steps": self.n_startup_steps}

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        best_id = study.incumbent_id
        if best_id is None:
            return cont(self.name, Reason.STARTUP, n_completed=study.n_completed)
        mine = trial.instance_scores()
        theirs = study.trial(best_id).instance_scores()
        common = sorted(set(mine) & set(theirs))
        need = max(2, self.n_startup_steps)
        if len(common) < need:
            return cont(
                self.name,
                Reason.NOT_ENOUGH_PAIRS,
                n_pairs=len(common),
                needed=need,
                incumbent=best_id,
            )
        diffs = [mine[s] - theirs[s] for s in common]  # canonical: > 0 means worse
        p = float(stats.wilcoxon(diffs, alternative="greater", zero_method="zsplit").pvalue)
        my_mean = math.fsum(mine.values()) / len(mine)
        best_mean = math.fsum(theirs.values()) / len(theirs)
        evidence = {
            "p_value": p,
            "p_threshold": self.p_threshold,
            "n_pairs": len(common),
            "incumbent": best_id,
            "mean": study.to_value(my_mean),
            "incumbent_mean": study.to_value(best_mean),
        }
        if p < self.p_threshold:
            if my_mean <= best_mean:
                return cont(self.name, Reason.MEAN_NOT_WORSE, **evidence)
            return stop(self.name, Reason.WILCOXON_WORSE, **evidence)
        return cont(self.name, Reason.OK, **evidence)
