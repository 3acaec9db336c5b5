"""hpprune: decide, while a hyperparameter search runs, which trials deserve more compute.

Everything public is re-exported here; one module per algorithm lives under
:mod:`hpprune.pruners`, the front doors under :mod:`hpprune.integrations`
(Optuna, Ray Tune) and :mod:`hpprune.loop`, the audit tools under
:mod:`hpprune.audit` and the benchmark under :mod:`hpprune.bench`.
"""

from hpprune import space
from hpprune.audit.log import AuditLog, LogFormatError, read_log
from hpprune.audit.sinks import FileSink, LogSink, MemorySink
from hpprune.cache import PolicyCache
from hpprune.curves import StudyView, TrialCurve
from hpprune.defaults import conservative_policy, default_policy
from hpprune.engine import Engine
from hpprune.loop import LoopResult, LoopTrial, SearchLoop, TrialRecord
from hpprune.next_trial import NextTrial, choose_next
from hpprune.pruners.base import (
    AllOf,
    AnyOf,
    NoPruning,
    Policy,
    policy_from_dict,
    policy_hash,
    register_policy,
)
from hpprune.pruners.freeze_thaw import FreezeThawPruner
from hpprune.pruners.guards import (
    KeepDiverse,
    KeepTopK,
    MinimumAccuracyPruner,
    PatientPruner,
    ThresholdPruner,
)
from hpprune.pruners.halving import SuccessiveHalvingPruner
from hpprune.pruners.hyperband import HyperbandPruner
from hpprune.pruners.percentile import MedianPruner, PercentilePruner
from hpprune.pruners.posterior import BayesianPruner, Prediction
from hpprune.pruners.wilcoxon import WilcoxonPruner
from hpprune.scheduler import ResourceScheduler
from hpprune.types import (
    Action,
    Decision,
    Direction,
    FrozenEvidence,
    Observation,
    Reason,
    TrialState,
)

__version__ = "0.1.0"

__all__ = [
    "Action",
    "AllOf",
    "AnyOf",
    "AuditLog",
    "BayesianPruner",
    "Decision",
    "Direction",
    "Engine",
    "FileSink",
    "FreezeThawPruner",
    "FrozenEvidence",
    "HyperbandPruner",
    "KeepDiverse",
    "KeepTopK",
    "LogFormatError",
    "LogSink",
    "LoopResult",
    "LoopTrial",
    "MedianPruner",
    "MemorySink",
    "MinimumAccuracyPruner",
    "NextTrial",
    "NoPruning",
    "Observation",
    "PatientPruner",
    "PercentilePruner",
    "Policy",
    "PolicyCache",
    "Prediction",
    "Reason",
    "ResourceScheduler",
    "SearchLoop",
    "StudyView",
    "SuccessiveHalvingPruner",
    "ThresholdPruner",
    "TrialCurve",
    "TrialRecord",
    "TrialState",
    "WilcoxonPruner",
    "__version__",
    "choose_next",
    "conservative_policy",
    "default_policy",
    "policy_from_dict",
    "policy_hash",
    "read_log",
    "register_policy",
    "space",
]
