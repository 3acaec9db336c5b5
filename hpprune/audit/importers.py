"""Import past Optuna studies and Ray Tune experiments as hpprune logs or curves tables.

Both importers produce the records of an hpprune audit log (see
:mod:`hpprune.audit.log`), which :func:`write_log` saves as JSON Lines and
:func:`write_curves_csv` turns into a long-format curves table
(``task,config_id,step,value,elapsed_s``, the format read by
``hpprune.bench.curves_table.load_curves_table``). So a replay, a backtest, a
report and the benchmark's ``curves`` source all work on people's real past studies.

What an imported log says, and what it cannot say:

* The decisions were made by Optuna's pruner or Ray's scheduler, which record no
  reason: a stop is ``STOP`` with rule ``"optuna"``/``"ray"`` and reason
  ``external``; every other report is ``CONTINUE`` with reason ``ok``. The
  header's policy is an :class:`ExternalPolicy` (it cannot decide anything) unless
  the caller names the hpprune policy that matches the pruner that was used.
* **Optuna** stores no time per report, so reports carry no ``elapsed`` and the
  order of events is rebuilt from each trial's start and completion times: the
  trial's reports are spread evenly between them. For a sequential study
  (``n_jobs=1``, one worker) that order is exact, so a replay sees exactly the
  completed trials the pruner saw; for parallel studies it is an approximation.
  A ``PRUNED`` trial is stopped at its last reported step; ``COMPLETE`` trials
  complete with their final value; ``FAIL`` trials fail; ``RUNNING``/``WAITING``
  trials stay running. Multi-objective studies are refused.
* **Ray Tune** trial folders hold ``result.json`` (preferred) or ``progress.csv``.
  The step is ``training_iteration`` (configurable), ``elapsed`` is
  ``time_total_s``, and events are ordered by each result's wall-clock
  ``timestamp`` (refined with ``time_total_s``). Ray writes ``done=True`` on the
  last result of a trial that a scheduler or stopper ended, and does *not* log the
  final result of a function trainable that returned by itself. Hence the fate of
  a trial: an ``error.txt``/``error.pkl`` file or status ``ERROR`` in
  ``experiment_state-*.json`` means failed; status ``RUNNING``/``PENDING`` means
  running and ``PAUSED`` paused; otherwise a last result with ``done=True`` below
  the largest step of the experiment (or ``max_step``) means stopped, and
  anything else means completed.

Non-finite metric values are imported as they were (NaN, ±inf); imported logs set
``non_finite="ignore"`` because neither tool stopped a trial for them by itself. A
metric cell that is missing or empty in a Ray result means "not reported at this
iteration" and yields no report.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import platform
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from hpprune import validate
from hpprune.audit.explain import fold_log, load_records
from hpprune.audit.outputs import atomic_output, sqlite_path
from hpprune.audit.records import decode_line, encode_record
from hpprune.audit.sinks import is_url
from hpprune.curves import StudyView, TrialCurve
from hpprune.pruners.base import Policy, policy_hash
from hpprune.types import SCHEMA_VERSION, Action, Decision, Direction, Reason

__all__ = [
    "ExternalPolicy",
    "import_optuna",
    "import_ray",
    "records_to_curves",
    "redact_url",
    "write_curves_csv",
    "write_log",
    "write_output",
]

CURVES_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
LOG_SUFFIXES = (".jsonl", ".log", ".ndjson", ".json")


class ExternalPolicy(Policy):
    """Placeholder policy of an imported log: the decisions were made by another tool.

    It records where the decisions came from and refuses to decide, so an engine
    resumed from an imported log cannot silently pretend to prune.

    Args:
        source: The tool, e.g. ``"optuna"`` or ``"ray"``.
        pruner: What is known about the pruner/scheduler that decided (free text).

    Raises:
        TypeError: If an argument is not a string.
    """

    is_external = True

    def __init__(self, source: str = "external", pruner: str = "unknown") -> None:
        for name, value in (("source", source), ("pruner", pruner)):
            if not isinstance(value, str):
                raise TypeError(f"expected a str for `{name}`, got {type(value).__name__}")
        self.source = source
        self.pruner = pruner

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        """Refuse: an imported log has no hpprune policy.

        Raises:
            RuntimeError: Always; replay the log through a real policy instead.
        """
        del study
        raise RuntimeError(
            f"trial {trial.trial_id!r}: this study was imported from {self.source}; its "
            "decisions were made outside hpprune. Replay it with a policy "
            "(hpprune replay LOG --policy SPEC) instead of resuming it."
        )

    def params(self) -> dict[str, Any]:
        return {"source": self.source, "pruner": self.pruner}


# ------------------------------------------------------------------- helpers
def redact_url(url: str) -> str:
    """Hide the password of a storage URL (``postgresql://u:secret@h/db`` -> ``u:***@``)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _header(
    *,
    study: str | None,
    policy: Policy,
    direction: Direction,
    source: dict[str, Any],
    started_at: str | None,
    extra_versions: Mapping[str, str],
) -> dict[str, Any]:
    from hpprune import __version__

    return {
        "kind": "study",
        "study": study,
        "policy": policy.to_dict(),
        "policy_hash": policy_hash(policy),
        "direction": direction.value,
        "non_finite": "ignore",
        "versions": {
            "hpprune": __version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "schema": SCHEMA_VERSION,
            **extra_versions,
        },
        "started_at": started_at,
        "source": source,
    }


def _report(
    tid: str, step: int, value: float | None, elapsed: float | None, decision: Decision
) -> dict[str, Any]:
    rec: dict[str, Any] = {"kind": "report", "trial": tid, "step": step, "value": value}
    if elapsed is not None:
        rec["elapsed"] = elapsed
    rec["decision"] = decision.to_dict(with_evidence=decision.action is not Action.CONTINUE)
    return rec


def _cont(rule: str, tid: str, step: int) -> Decision:
    return Decision(Action.CONTINUE, Reason.OK, rule, tid, step)


def _stop(rule: str, tid: str, step: int, **evidence: Any) -> Decision:
    return Decision(Action.STOP, Reason.EXTERNAL, rule, tid, step, {"source": rule, **evidence})


def _clean_params(params: Any, where: str) -> Any:
    """Params as the log holds them (see :func:`hpprune.validate.any_jsonable`).

    Raises:
        ValueError: Naming ``where`` and the element (nested too deeply, a lone
            surrogate, an int too large for a float, no JSON form).
    """
    try:
        return validate.any_jsonable(params, "params")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def _metric(raw: Any) -> float | None:
    """A metric cell as float; None when missing/empty. Raises ValueError if not a number."""
    if raw is None or isinstance(raw, bool):
        return None if raw is None else float(raw)
    if isinstance(raw, (int, float)):
        try:
            return float(raw)
        except OverflowError:
            raise ValueError(f"{raw!r:.20}... is too large for a float") from None
    text = str(raw).strip()
    if not text:
        return None
    return float(text)


# -------------------------------------------------------------------- optuna
def import_optuna(
    storage: str | Any,
    study_name: str | None = None,
    *,
    policy: Policy | None = None,
) -> list[dict[str, Any]]:
    """Turn an Optuna study into hpprune log records.

    Args:
        storage: An Optuna storage URL (``sqlite:///x.db``, ``postgresql://...``,
            any URL ``optuna.load_study`` accepts) or storage object.
        study_name: The study; None works when the storage holds exactly one.
        policy: The hpprune policy matching the pruner that was used, recorded in
            the header (default: an :class:`ExternalPolicy`).

    Returns:
        The records, header first (see the module docstring for what they say).

    Raises:
        ImportError: If Optuna is not installed (``pip install hpprune[optuna]``).
        ValueError: If the study is multi-objective or cannot be loaded (the
            message names the storage and study).
    """
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - optuna is a test dependency
        raise ImportError(
            "importing Optuna studies needs optuna: pip install hpprune[optuna]"
        ) from exc
    shown = redact_url(storage) if isinstance(storage, str) else type(storage).__name__
    db = sqlite_path(storage) if isinstance(storage, str) else None
    if db is not None and not db.is_file():  # opening it would create an empty database
        raise FileNotFoundError(f"no SQLite database at {db} (from --storage {shown})")
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise ValueError(f"study {study_name!r} not found in storage {shown}") from None
    except ValueError as exc:
        raise ValueError(f"cannot load study {study_name!r} from {shown}: {exc}") from None
    except Exception as exc:
        # The storage itself failed (e.g. sqlalchemy's OperationalError for a
        # database that cannot be opened): report it as bad `--storage` input.
        if type(exc).__module__.split(".")[0] not in ("sqlalchemy", "optuna"):
            raise
        raise ValueError(
            f"cannot open storage {shown}: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        ) from None
    if len(study.directions) != 1:
        raise ValueError(
            f"study {study.study_name!r} has {len(study.directions)} objectives; only "
            "single-objective studies can be imported"
        )
    direction = (
        Direction.MAXIMIZE
        if study.direction == optuna.study.StudyDirection.MAXIMIZE
        else Direction.MINIMIZE
    )
    states = optuna.trial.TrialState
    trials = []
    starts: dict[int, float] = {}
    for t in study.get_trials(deepcopy=False):
        if t.datetime_start is not None:
            trials.append(t)
            starts[t.number] = t.datetime_start.timestamp()
    ends = [t.datetime_complete.timestamp() for t in trials if t.datetime_complete is not None]
    horizon = max(ends, default=0.0)
    events: list[tuple[float, int, int, dict[str, Any]]] = []
    for t in trials:
        tid = str(t.number)
        t0 = starts[t.number]
        t1 = (
            t.datetime_complete.timestamp() if t.datetime_complete is not None else max(t0, horizon)
        )
        steps = sorted(t.intermediate_values)
        n = len(steps)
        seq = 0

        def push(when: float, record: dict[str, Any], tid_num: int = t.number) -> None:
            nonlocal seq
            events.append((when, tid_num, seq, record))
            seq += 1

        if t.params:
            params = _clean_params(dict(t.params), f"Optuna trial {t.number}")
            push(t0, {"kind": "trial", "trial": tid, "params": params})
        for i, step in enumerate(steps):
            when = t0 + (t1 - t0) * (i + 1) / (n + 1)
            value = _metric(t.intermediate_values[step])
            pruned_here = t.state == states.PRUNED and i == n - 1
            dec = (
                _stop("optuna", tid, step, state="PRUNED")
                if pruned_here
                else _cont("optuna", tid, step)
            )
            push(when, _report(tid, int(step), value, None, dec))
        if t.state == states.PRUNED and n == 0:
            dec = _stop("optuna", tid, -1, state="PRUNED")
            push(t1, {"kind": "decision", "trial": tid, "decision": dec.to_dict()})
        elif t.state == states.COMPLETE:
            push(t1, {"kind": "complete", "trial": tid, "value": _metric(t.value)})
        elif t.state == states.FAIL:
            push(t1, {"kind": "fail", "trial": tid, "reason": "optuna trial FAIL"})
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    first = min(starts.values(), default=None)
    header = _header(
        study=study.study_name,
        policy=policy if policy is not None else ExternalPolicy("optuna", "unknown"),
        direction=direction,
        source={"kind": "optuna", "storage": shown, "study": study.study_name},
        started_at=None
        if first is None
        else datetime.fromtimestamp(first, UTC).isoformat(timespec="seconds"),
        extra_versions={"optuna": optuna.__version__},
    )
    return [header, *(e[3] for e in events)]


# ----------------------------------------------------------------------- ray
def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "/"))
        else:
            out[key] = v
    return out


def _read_result_json(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                # A torn last line of a crashed run: skip it, like Ray's own reader would fail.
                if fh.read().strip():
                    raise ValueError(f"{path}:{lineno}: malformed JSON line") from None
                break
            if isinstance(row, dict):
                row.pop("config", None)
                rows.append(_flatten(row))
    return rows


def _read_progress_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [dict(r) for r in csv.DictReader(fh)]


def _truthy(x: Any) -> bool:
    if isinstance(x, str):
        return x.strip().lower() in ("true", "1", "yes")
    return bool(x)


def _ray_status(root: Path) -> dict[str, str]:
    """Trial id -> status from the newest ``experiment_state-*.json`` (plain JSON only)."""
    files = sorted(root.glob("experiment_state-*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        return {}
    try:
        state = json.loads(files[-1].read_text(encoding="utf-8"))
        out: dict[str, str] = {}
        for entry in state.get("trial_data", []):
            trial_json = entry[0] if isinstance(entry, list) else entry
            data = json.loads(trial_json) if isinstance(trial_json, str) else trial_json
            if isinstance(data, Mapping) and "trial_id" in data and "status" in data:
                out[str(data["trial_id"])] = str(data["status"])
        return out
    except (OSError, ValueError, TypeError, KeyError, IndexError):
        return {}


def _trial_dirs(root: Path) -> list[Path]:
    found: set[Path] = set()
    for name in ("result.json", "progress.csv"):
        for depth in ("*", "*/*"):
            for p in root.glob(f"{depth}/{name}"):
                found.add(p.parent)
    return sorted(found)


def import_ray(
    experiment_dir: str | os.PathLike[str],
    metric: str,
    mode: str,
    *,
    step_column: str = "training_iteration",
    max_step: int | None = None,
    policy: Policy | None = None,
) -> list[dict[str, Any]]:
    """Turn a Ray Tune experiment directory into hpprune log records.

    Args:
        experiment_dir: The experiment folder (holding one folder per trial).
        metric: The result column to import as the value (nested keys joined by
            ``/``, as in ``progress.csv``).
        mode: ``"min"``/``"max"`` (or ``"minimize"``/``"maximize"``).
        step_column: The integer step column.
        max_step: The step a trial that ran to the end reaches; default: the
            largest step of any trial. Used to tell stopped from completed trials.
        policy: The hpprune policy matching the scheduler used (default: an
            :class:`ExternalPolicy`).

    Returns:
        The records, header first.

    Raises:
        FileNotFoundError: If the folder does not exist or holds no trial results.
        ValueError: If ``mode`` is unknown, the metric or step column is absent,
            or a cell is not a number (the message names file, row and column).
    """
    root = Path(experiment_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"Ray experiment directory not found: {root}")
    mode_map = {"min": "minimize", "max": "maximize"}
    direction = Direction.parse(mode_map.get(str(mode).strip().lower(), mode), "mode")
    dirs = _trial_dirs(root)
    if not dirs:
        raise FileNotFoundError(
            f"{root}: no trial folders with result.json or progress.csv were found"
        )
    status = _ray_status(root)

    loaded: list[tuple[Path, str, list[dict[str, Any]], Path]] = []
    for d in dirs:
        source = d / "result.json"
        rows = _read_result_json(source) if source.is_file() else []
        if not rows and (d / "progress.csv").is_file():
            source = d / "progress.csv"
            rows = _read_progress_csv(source)
        if not rows:
            continue
        tid = str(rows[0].get("trial_id") or d.name)
        loaded.append((d, tid, rows, source))
    if not loaded:
        raise FileNotFoundError(f"{root}: the trial folders hold no results")
    if not any(metric in row for _, _, rows, _ in loaded for row in rows):
        columns = sorted({k for _, _, rows, _ in loaded for k in rows[0]})
        raise ValueError(
            f"metric {metric!r} is not a column of the results in {root}; "
            f"columns: {', '.join(columns)}"
        )

    parsed: list[tuple[str, Path, list[tuple[int, float | None, float | None, float]], bool]] = []
    for k, (_d, tid, rows, source) in enumerate(loaded):
        points: list[tuple[int, float | None, float | None, float]] = []
        starts = []
        for i, row in enumerate(rows, start=1):
            where = f"{source}: row {i}"
            if step_column not in row:
                raise ValueError(f"{where}: no step column {step_column!r}")
            try:
                step_f = _metric(row[step_column])
            except ValueError:
                raise ValueError(f"{where}, column {step_column!r}: not an integer") from None
            if step_f is None or not math.isfinite(step_f) or step_f != int(step_f) or step_f < 0:
                raise ValueError(
                    f"{where}, column {step_column!r}: {row[step_column]!r} is not an integer >= 0"
                )
            try:
                value = _metric(row.get(metric))
                elapsed = _metric(row.get("time_total_s"))
                stamp = _metric(row.get("timestamp"))
            except ValueError as exc:
                raise ValueError(f"{where}: a number is malformed ({exc})") from None
            if elapsed is not None and (not math.isfinite(elapsed) or elapsed < 0):
                elapsed = None
            if stamp is not None and math.isfinite(stamp):
                starts.append(stamp - (elapsed or 0.0))
            if value is None:
                continue  # metric not reported at this iteration
            points.append((int(step_f), value, elapsed, math.nan))
        # Wall-clock time of each result: the trial's start plus its compute time.
        start = float(np.median(starts)) if starts else float(k) * 1e9
        timed = []
        for j, (s, v, e, _) in enumerate(points):
            when = start + (e if e is not None else float(j))
            timed.append((s, v, e, when))
        timed.sort(key=lambda p: p[0])
        dedup: list[tuple[int, float | None, float | None, float]] = []
        for p in timed:
            if dedup and dedup[-1][0] == p[0]:
                dedup[-1] = p  # a restored trial may repeat an iteration: keep the last
            else:
                dedup.append(p)
        done = _truthy(rows[-1].get("done", False))
        parsed.append((tid, source.parent, dedup, done))

    top = max((p[-1][0] for _, _, p, _ in parsed if p), default=0)
    full = max_step if max_step is not None else top
    events: list[tuple[float, int, int, dict[str, Any]]] = []
    for k, (tid, folder, points, done) in enumerate(parsed):
        seq = 0

        def push(when: float, record: dict[str, Any], order: int = k) -> None:
            nonlocal seq
            events.append((when, order, seq, record))
            seq += 1

        params_file = folder / "params.json"
        if params_file.is_file():
            try:
                params = json.loads(params_file.read_text(encoding="utf-8"))
            except ValueError:
                params = None
            if isinstance(params, Mapping) and params:
                first_when = points[0][3] if points else 0.0
                clean = _clean_params(params, str(params_file))
                push(first_when, {"kind": "trial", "trial": tid, "params": clean})
        st = status.get(tid, "")
        failed = st == "ERROR" or (folder / "error.txt").exists() or (folder / "error.pkl").exists()
        last_step = points[-1][0] if points else -1
        stopped = not failed and st in ("", "TERMINATED") and done and last_step < full
        for i, (s, v, e, when) in enumerate(points):
            is_last = i == len(points) - 1
            dec = _stop("ray", tid, s, done=True) if stopped and is_last else _cont("ray", tid, s)
            push(when, _report(tid, s, v, e, dec))
        end = points[-1][3] if points else 0.0
        if failed:
            push(end, {"kind": "fail", "trial": tid, "reason": "ray trial ERROR"})
        elif st == "PAUSED":
            dec = Decision(Action.PAUSE, Reason.EXTERNAL, "ray", tid, last_step, {"source": "ray"})
            push(end, {"kind": "decision", "trial": tid, "decision": dec.to_dict()})
        elif not stopped and st in ("", "TERMINATED") and points:
            push(end, {"kind": "complete", "trial": tid, "value": None})
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    stamps = [e[0] for e in events if e[0] > 1e8]
    started = (
        datetime.fromtimestamp(min(stamps), UTC).isoformat(timespec="seconds") if stamps else None
    )
    header = _header(
        study=root.name,
        policy=policy if policy is not None else ExternalPolicy("ray", "unknown"),
        direction=direction,
        source={"kind": "ray", "dir": str(root), "metric": metric, "step_column": step_column},
        started_at=started,
        extra_versions={},
    )
    return [header, *(e[3] for e in events)]


# -------------------------------------------------------------------- output
def write_log(
    records: Iterable[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> Path:
    """Write records as a JSON Lines audit log (atomically: a temporary file is renamed).

    Args:
        records: Header first.
        path: Destination.
        overwrite: Replace an existing file (default: refuse).
        inputs: Files the command read (never written over).

    Returns:
        The path written.

    Raises:
        FileExistsError: If the file exists and ``overwrite`` is False.
        ValueError: If ``path`` is one of ``inputs``.
    """
    with atomic_output(path, inputs=inputs, overwrite=overwrite) as fh:
        fh.write(b"".join(encode_record(r) for r in records))
    return Path(path)


def records_to_curves(
    records: Iterable[Mapping[str, Any]],
) -> tuple[str, list[str], list[list[tuple[int, float, float | None]]]]:
    """Curves of every trial in a log, in order of first appearance.

    Args:
        records: Log records, header first.

    Returns:
        ``(direction, trial ids, curves)``; each curve is a list of
        ``(step, value, elapsed_s)`` (value NaN for a None report).
    """
    facts = fold_log(records)
    ids = list(facts.trials)
    curves = [list(zip(t.steps, t.values, t.elapsed, strict=True)) for t in facts.trials.values()]
    return facts.direction.value, ids, curves


def _fmt(x: float | None) -> str:
    if x is None or math.isnan(x):
        return ""
    return repr(float(x))


def _write_csv(fh: IO[str], delimiter: str, header: list[str], rows: Iterable[list[Any]]) -> None:
    w = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)


def write_curves_csv(
    records: Iterable[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    task: str | None = None,
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> Path:
    """Write the curves of a log as a long-format table (``task,config_id,step,value,elapsed_s``).

    The format is the one ``hpprune.bench.curves_table.load_curves_table`` reads:
    one row per report; NaN values are written as empty cells (missing), ±inf as
    ``inf``/``-inf``; ``elapsed_s`` is cumulative seconds (empty when unknown).
    ``.tsv`` is tab-separated and a ``.gz`` suffix writes gzip. The direction is
    not stored in the table: pass it again when loading.

    Args:
        records: Log records, header first.
        path: Destination.
        task: Value of the ``task`` column (default: the file name without suffixes).
        overwrite: Replace an existing file (default: refuse).
        inputs: Files the command read (never written over).

    Returns:
        The path written.

    Raises:
        FileExistsError: If the file exists and ``overwrite`` is False.
        ValueError: If ``path`` is one of ``inputs``.
    """
    target = Path(path)
    name = target.name
    for suffix in (".gz", ".csv", ".tsv"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    task_name = task if task is not None else (name or "curves")
    _, ids, curves = records_to_curves(records)
    gz = target.name.lower().endswith(".gz")
    delimiter = "\t" if ".tsv" in target.name.lower() else ","
    header = ["task", "config_id", "step", "value", "elapsed_s"]
    rows = (
        [task_name, tid, step, _fmt(value), _fmt(elapsed)]
        for tid, curve in zip(ids, curves, strict=True)
        for step, value, elapsed in curve
    )
    buf = io.StringIO()
    _write_csv(buf, delimiter, header, rows)
    data = buf.getvalue().encode("utf-8")
    with atomic_output(target, inputs=inputs, overwrite=overwrite) as raw:
        raw.write(gzip.compress(data, mtime=0) if gz else data)
    return target


def _read_back(records: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each record as a reader gets it after writing (a skipped one is left out, warned)."""
    for n, record in enumerate(records, start=1):
        decoded = decode_line(encode_record(record), n, "<imported records>")
        if decoded is not None:
            yield decoded


def write_output(
    records: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    overwrite: bool = False,
    study: str | None = None,
    inputs: Sequence[str | os.PathLike[str]] = (),
    checked: bool = False,
) -> tuple[Path | str, str]:
    """Write records as a log or a curves table, chosen by ``fmt`` or the file suffix.

    Args:
        records: Log records, header first.
        path: Destination; ``.csv``/``.tsv`` (optionally ``.gz``) means a curves
            table, a database URL the study's log in that database (see
            :func:`hpprune.audit.dbsink.write_study`), anything else a JSON Lines log.
        fmt: ``"log"`` or ``"curves"`` to override the suffix.
        overwrite: Replace an existing file (a database log is never replaced).
        study: Study name for a database destination (default: the header's).
        inputs: Files the command read (never written over).
        checked: The records already went through the log's fold
            (:func:`hpprune.audit.facts.load_records`); otherwise they go
            through it here, so nothing every reader would reject is written.

    Returns:
        ``(path, format)``; for a database, the URL without its password.

    Raises:
        LogFormatError: If the records are not a valid log (nothing is written).
        ValueError: If ``fmt`` is unknown, or is ``"curves"`` for a database.
        FileExistsError: If the file exists and ``overwrite`` is False, or the
            study already has a log in the database.
    """
    if not checked:  # each record through the codec and the fold: what is written reads back
        records = load_records(_read_back(records))
    if is_url(path):
        if fmt not in (None, "log"):
            raise ValueError("a database holds logs, not curves tables; use a .csv OUT")
        from hpprune.audit.dbsink import write_study

        return write_study(records, str(path), study), "log"
    lower = os.fspath(path).lower()
    if fmt is None:
        fmt = "curves" if lower.endswith(CURVES_SUFFIXES) else "log"
    if fmt == "curves":
        return write_curves_csv(records, path, overwrite=overwrite, inputs=inputs), fmt
    if fmt == "log":
        return write_log(records, path, overwrite=overwrite, inputs=inputs), fmt
    raise ValueError(f"expected 'log' or 'curves' for `format`, got {fmt!r}")
