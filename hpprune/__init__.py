"""hpprune: decide, while a hyperparameter search runs, which trials deserve more compute."""

from hpprune.audit.log import AuditLog, LogFormatError, read_log
from hpprune.curves import StudyView, TrialCurve
from hpprune.engine import Engine
from hpprune.pruners.base import AllOf, AnyOf, NoPruning, Policy, policy_from_dict, policy_hash
from hpprune.pruners.percentile import MedianPruner, PercentilePruner
from hpprune.types import (
    Action,
    Decision,
    Direction,
    Observation,
    Reason,
    TrialState,
)

__version__ = "0.1.0"

# --- halving (SuccessiveHalvingPruner, HyperbandPruner) ---
from hpprune.pruners.halving import SuccessiveHalvingPruner
from hpprune.pruners.hyperband import HyperbandPruner

# isort: split
# --- guards ---
from hpprune.pruners.guards import (
    KeepDiverse,
    KeepTopK,
    MinimumAccuracyPruner,
    PatientPruner,
    ThresholdPruner,
)

# isort: split
# --- posterior ---
from hpprune.pruners.posterior import BayesianPruner, Prediction

# isort: split
# --- scheduler ---
from hpprune.scheduler import NextTrial, ResourceScheduler  # noqa: E402

# --- loop ---
# isort: split
from hpprune import space
from hpprune.loop import LoopResult, LoopTrial, SearchLoop, TrialRecord

# --- default policy ---

__all__ = [
    "Action",
    "AllOf",
    "AnyOf",
    "AuditLog",
    "Decision",
    "Direction",
    "Engine",
    "HyperbandPruner",
    "KeepDiverse",
    "KeepTopK",
    "LogFormatError",
    "LoopResult",
    "LoopTrial",
    "MedianPruner",
    "MinimumAccuracyPruner",
    "NoPruning",
    "Observation",
    "PatientPruner",
    "PercentilePruner",
    "Policy",
    "Reason",
    "ResourceScheduler",
    "NextTrial",
    "SearchLoop",
    "StudyView",
    "SuccessiveHalvingPruner",
    "ThresholdPruner",
    "TrialCurve",
    "TrialRecord",
    "TrialState",
    "__version__",
    "policy_from_dict",
    "policy_hash",
    "read_log",
    "space",
    # --- posterior
    "BayesianPruner",
    "Prediction",
]
