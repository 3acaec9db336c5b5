"""Whether a log's header pre-registered the same study as the writer about to append to it.

Opening a log means resuming it, so a writer may append only to a log whose
``study`` header pre-registered what the writer decides with: the same policy
(by :func:`hpprune.policy_hash`), direction, non-finite mode and study name.
:func:`check_same_study` is that comparison, in one place, for every writer
that attaches to an existing log.
"""

from __future__ import annotations

from hpprune.audit.records import StudyRecord

__all__ = ["check_same_study", "study_difference"]


def study_difference(expected: StudyRecord, found: StudyRecord) -> str | None:
    """The first header field in which ``found`` pre-registered another study.

    Args:
        expected: The header the writer would write. Its ``study`` None means
            any name.
        found: The log's header.

    Returns:
        ``"policy"``, ``"direction"``, ``"non_finite"`` or ``"study"``; None
        when the log is the same study.
    """
    if found.policy_hash != expected.policy_hash:
        return "policy"
    if found.direction != expected.direction:
        return "direction"
    if found.non_finite != expected.non_finite:
        return "non_finite"
    if expected.study is not None and found.study != expected.study:
        return "study"
    return None


def check_same_study(expected: StudyRecord, found: StudyRecord, where: object, hint: str) -> None:
    """Refuse to append to a log of another study.

    Args:
        expected: The header the writer would write (``study`` None: any name).
        found: The log's header.
        where: The log's name, for the message.
        hint: What the user can do instead, for the message.

    Raises:
        ValueError: Naming the first field that differs (policy, direction,
            non_finite, study name) with both values.
    """
    field = study_difference(expected, found)
    if field == "policy":
        raise ValueError(
            f"log {where} was written for policy {found.policy}, not {expected.policy}; {hint}"
        )
    if field == "direction":
        raise ValueError(
            f"log {where} has direction {found.direction.value!r}, "
            f"not {expected.direction.value!r}; {hint}"
        )
    if field == "non_finite":
        raise ValueError(
            f"log {where} has non_finite {found.non_finite!r}, not {expected.non_finite!r}; {hint}"
        )
    if field == "study":
        raise ValueError(
            f"log {where} belongs to study {found.study!r}, not {expected.study!r} "
            f"(one log per study); {hint}"
        )
