"""The Policy contract, composition, and policy (de)serialisation.

A policy is a pure function of two read-only views: ``decide(trial, study)``.
It holds only its constructor parameters; all state lives in the engine's
store, which is itself a fold over the audit log. That is what makes
decisions identical in every process and after every restart.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hpprune.curves import StudyView, TrialCurve
from hpprune.registry import Registry
from hpprune.types import Action, Decision, Reason, cont, jsonable, policy_digest


class Policy(ABC):
    """Base class of every pruning policy.

    Subclasses validate their parameters in ``__init__`` and implement
    :meth:`decide` and :meth:`params`. ``decide`` must be deterministic: no
    clocks, no unseeded randomness, no ``hash()``.
    """

    @property
    def name(self) -> str:
        """Rule name recorded in every decision (the class name by default)."""
        return type(self).__name__

    @abstractmethod
    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        """Decide on ``trial`` after its latest finite report.

        Args:
            trial: The trial's curve, including the report being decided.
            study: All trials (canonical scores, lower is better).

        Returns:
            A decision; the engine binds trial id and step to it.
        """

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Constructor arguments, JSON-ready, such that ``type(self)(**params())`` rebuilds it."""

    @property
    def unordered_steps(self) -> bool:
        """True if the policy decides on steps reported in any order.

        Most policies read a learning curve and need increasing steps; the
        engine records a lower step for them without deciding it. A policy
        whose steps are instance ids (e.g. :class:`hpprune.WilcoxonPruner`)
        returns True and reads :meth:`hpprune.curves.TrialCurve.instance_scores`.
        """
        return False

    def groups(self, trial_id: str) -> dict[str, str]:
        """Partition labels for a new trial (e.g. its Hyperband bracket).

        The store keeps per-group sorted score lists for each label. Labels must
        be a deterministic function of ``trial_id`` (use a stable hash).
        """
        del trial_id
        return {}

    def children(self) -> tuple[Policy, ...]:
        """The policies this one wraps or combines (empty for a leaf policy).

        Front doors search this tree for a scheduler (:func:`hpprune.next_trial.find_scheduler`)
        and a predictive model.
        """
        return ()

    def stop_only(self) -> Policy:
        """This policy for a front door that cannot pause a trial (Optuna).

        A policy that pauses returns its variant that stops instead; the others
        (the default) return themselves.
        """
        return self

    def to_dict(self) -> dict[str, Any]:
        """``{"type": "module.Class", "params": {...}}`` for the audit log."""
        return {"type": type_name_of(type(self)), "params": jsonable(self.params())}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and policy_hash(self) == policy_hash(other)

    def __hash__(self) -> int:
        return int(policy_hash(self)[:15], 16)


def policy_hash(policy: Policy) -> str:
    """Stable hex digest of a policy's type and parameters (same in every process)."""
    return policy_digest(policy.to_dict())


def policy_from_dict(data: Mapping[str, Any]) -> Policy:
    """Rebuild a policy from :meth:`Policy.to_dict` output.

    The type resolves only among hpprune's own policies and the ones
    registered explicitly (see :func:`resolve_policy_class`): a log never
    chooses code to import.

    Args:
        data: ``{"type": "module.Class", "params": {...}}``.

    Returns:
        The policy.

    Raises:
        ValueError: If the type is unknown or its parameters are invalid.
        TypeError: If a parameter has the wrong type.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("type"), str):
        raise ValueError("a policy record needs a str 'type' field")
    cls = resolve_policy_class(data["type"])
    params = data.get("params") or {}
    if not isinstance(params, Mapping):
        raise ValueError(f"the 'params' of policy {data['type']!r} must be an object")
    params = dict(params)
    from_params = getattr(cls, "from_params", None)
    return from_params(params) if callable(from_params) else cls(**params)


ENTRY_POINT_GROUP = "hpprune.policies"
"""Entry-point group under which installed packages declare their policy classes."""

_OWN_MODULE = re.compile(r"hpprune(\.[a-z_][a-z0-9_]*)+")


def _is_policy_class(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, Policy)


def _own_policy(type_name: str) -> type[Policy] | None:
    """hpprune's own policy class of that name (imports only ``hpprune.*`` modules)."""
    if _OWN_MODULE.fullmatch(type_name.rpartition(".")[0] or "-"):
        return _own_class(type_name)
    return None


class PolicyRegistry(Registry[type[Policy]]):
    """The policy classes a log's ``type`` may name, beyond hpprune's own.

    hpprune's own policies (classes defined in ``hpprune.*`` modules) always
    resolve. Others resolve only once registered: by :meth:`register` (e.g.
    ``hpprune.register_policy(MyPolicy)`` next to the class) or as an entry
    point of the group :data:`ENTRY_POINT_GROUP` in an installed package's
    metadata. Nothing else is imported, whatever a log says.
    """

    def __init__(self) -> None:
        super().__init__(
            "policy type",
            name_of=type_name_of,
            accepts=_is_policy_class,
            group=ENTRY_POINT_GROUP,
            how="hpprune.register_policy(...)",
            own=_own_policy,
        )


def _own_class(type_name: str) -> type[Policy] | None:
    """A Policy class defined in one of hpprune's own modules, or None."""
    import importlib.util

    module_name, _, qualname = type_name.rpartition(".")
    try:
        if importlib.util.find_spec(module_name) is None:
            return None
        obj: Any = importlib.import_module(module_name)  # hpprune's own code only
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, ValueError):
        return None
    if isinstance(obj, type) and issubclass(obj, Policy) and obj.__module__.startswith("hpprune."):
        return obj
    return None


def type_name_of(cls: type) -> str:
    """``"module.QualName"``, the ``type`` a policy's record carries."""
    return f"{cls.__module__}.{cls.__qualname__}"


POLICIES = PolicyRegistry()
"""The registry every reader of a log resolves policy types through."""


def register_policy(cls: type[Policy]) -> type[Policy]:
    """Allow logs to name ``cls`` (see :class:`PolicyRegistry`); usable as a decorator."""
    return POLICIES.register(cls)


def resolve_policy_class(type_name: str) -> type[Policy]:
    """The class a log's policy ``type`` names (see :class:`PolicyRegistry`).

    Raises:
        ValueError: If it is neither hpprune's own nor registered.
    """
    return POLICIES.resolve(type_name, "policy.type")


def find_policy(policy: Policy, match: Callable[[Policy], bool]) -> Policy | None:
    """The first policy in ``policy``'s composition tree (depth first, in order) that matches.

    The tree is ``policy`` and, recursively, its :meth:`Policy.children`.
    """
    if match(policy):
        return policy
    for child in policy.children():
        found = find_policy(child, match)
        if found is not None:
            return found
    return None


def as_policy(value: object, field_name: str = "policy") -> Policy:
    """Check that ``value`` is a Policy.

    Raises:
        TypeError: Naming ``field_name`` if it is not.
    """
    if not isinstance(value, Policy):
        hint = _policy_hint(value)
        raise TypeError(
            f"expected an hpprune Policy for `{field_name}`, got {type(value).__name__}"
            + (f"; {hint}" if hint else "")
        )
    return value


def declared_final_step(policy: Policy) -> int | None:
    """The last step of a full run that ``policy`` (or a policy inside it) declares.

    A policy declares it with an int attribute ``max_step`` (e.g.
    :class:`hpprune.ResourceScheduler`) or ``max_resource`` (e.g.
    :class:`hpprune.HyperbandPruner`); ``"auto"`` and None declare nothing.

    Args:
        policy: The policy tree.

    Returns:
        The smallest declared final step, or None.
    """
    found: list[int] = []
    stack: list[object] = [policy]
    while stack:
        p = stack.pop()
        for attr in ("max_step", "max_resource"):
            v = getattr(p, attr, None)
            if isinstance(v, int) and not isinstance(v, bool):
                found.append(v)
        stack.extend(getattr(p, "policies", ()))
        inner = getattr(p, "wrapped", None)
        if isinstance(inner, Policy):
            stack.append(inner)
    return min(found) if found else None


_PEER_EQUIVALENTS = {
    "NopPruner": "NoPruning()",
    "ASHAScheduler": "SuccessiveHalvingPruner(...)",
    "AsyncHyperBandScheduler": "SuccessiveHalvingPruner(...)",
    "HyperBandScheduler": "HyperbandPruner(...)",
    "MedianStoppingRule": "MedianPruner(...)",
    "FIFOScheduler": "NoPruning()",
}
"""Optuna pruners and Ray Tune schedulers whose hpprune equivalent has another name."""


def _policy_hint(value: object) -> str:
    """What to do instead, for the usual mistakes (an Optuna pruner, an uncalled factory)."""
    import hpprune

    if isinstance(value, type):
        if issubclass(value, Policy):
            return f"that is the class {value.__name__}; create one: {value.__name__}(...)"
        return ""
    cls = type(value)
    module = cls.__module__.split(".")[0]
    if module in ("optuna", "ray"):
        tool = "an Optuna pruner" if module == "optuna" else "a Ray Tune scheduler"
        name = cls.__name__
        same = _PEER_EQUIVALENTS.get(name)
        if same is None and name in hpprune.__all__:
            same = f"{name}(...)"
        if same is not None:
            return f"that is {tool}; use hpprune's equivalent hpprune.{same}"
        return f"that is {tool}; hpprune's policies are listed in hpprune.__all__"
    if callable(value) and getattr(value, "__module__", "").startswith("hpprune"):
        name = getattr(value, "__name__", "it")
        return f"{name} is a function that makes a policy; call it: {name}(...)"
    return ""


class _Composite(Policy):
    def __init__(self, policies: Sequence[Policy]) -> None:
        if isinstance(policies, Policy) or not isinstance(policies, Sequence):
            raise TypeError(
                f"expected a list of policies for `policies`, got {type(policies).__name__}"
            )
        if len(policies) == 0:
            raise ValueError("`policies` must hold at least one policy")
        self.policies = tuple(as_policy(p, f"policies[{i}]") for i, p in enumerate(policies))

    def params(self) -> dict[str, Any]:
        return {"policies": [p.to_dict() for p in self.policies]}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> _Composite:
        return cls([policy_from_dict(p) for p in params["policies"]])

    @property
    def unordered_steps(self) -> bool:
        """True only when every member decides on steps in any order."""
        return all(p.unordered_steps for p in self.policies)

    def children(self) -> tuple[Policy, ...]:
        return self.policies

    def stop_only(self) -> Policy:
        members = [p.stop_only() for p in self.policies]
        if all(a is b for a, b in zip(members, self.policies, strict=True)):
            return self
        return type(self)(members)

    def groups(self, trial_id: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for p in self.policies:
            out.update(p.groups(trial_id))
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}([{', '.join(repr(p) for p in self.policies)}])"


class AnyOf(_Composite):
    """Stop (or pause) as soon as any member policy says so.

    Members are asked in order; the first non-CONTINUE decision wins and keeps
    its own rule name and evidence. When all continue, the decision of the
    first member is returned.

    Args:
        policies: Member policies, asked in order.

    Raises:
        TypeError: If ``policies`` is not a list of policies.
        ValueError: If it is empty.
    """

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        first = self.policies[0].decide(trial, study)
        if first.action is not Action.CONTINUE:
            return first
        for p in self.policies[1:]:
            d = p.decide(trial, study)
            if d.action is not Action.CONTINUE:
                return d
        return first


class AllOf(_Composite):
    """Stop only when every member policy says STOP.

    The decision returned is the first member's STOP, with the other members'
    reasons added to its evidence under ``"agreed"``.

    Args:
        policies: Member policies.

    Raises:
        TypeError: If ``policies`` is not a list of policies.
        ValueError: If it is empty.
    """

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        decisions = [p.decide(trial, study) for p in self.policies]
        for d in decisions:
            if d.action is Action.CONTINUE:
                return cont(self.name, d.reason, vetoed_by=d.rule)
        lead = decisions[0]
        evidence = dict(lead.evidence)
        evidence["agreed"] = [f"{d.rule}:{d.reason}" for d in decisions[1:]]
        return Decision(
            lead.action, lead.reason, lead.rule, evidence=evidence, rung_resource=lead.rung_resource
        )


class NoPruning(Policy):
    """Never stops a trial (baseline; non-finite handling stays with the engine)."""

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        del trial, study
        return cont(self.name, Reason.OK)

    def params(self) -> dict[str, Any]:
        return {}
