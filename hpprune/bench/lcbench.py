"""Learning curves from the YAHPO Gym LCBench surrogate (an ONNX model).

The surrogate data (``model.onnx``, ``encoding.json``, ``config_space.json``) is
read from a directory that is never copied into the project. It is looked up in
this order:

1. the ``data_dir`` argument,
2. the environment variable ``HPPRUNE_LCBENCH_DIR``,
3. ``<project root>/../shared/data/lcbench``, where the project root is the
   directory that contains the ``hpprune`` package.

The model maps (task index, epoch, 7 hyperparameters) to six outputs: cumulative
training ``time`` in seconds, ``val_accuracy`` (percent, 0..100),
``val_cross_entropy``, ``val_balanced_accuracy`` (a fraction, 0..1),
``test_cross_entropy`` and ``test_balanced_accuracy`` (a fraction). Values are
returned exactly as the surrogate predicts them (no clipping or rescaling).

Elapsed-time repair: the surrogate's cumulative ``time`` is not always
non-decreasing in the epoch. Most often the first epoch is predicted slower than
the second; on some tasks the predicted time of a few configurations even falls
steadily after a peak. Such times are repaired by :func:`repair_cumulative_time`:
a raw time is kept when it is finite and larger than the repaired time of the
previous epoch; otherwise the previous repaired time plus the configuration's
typical epoch duration (the median of its positive raw increments) is used. The
result is strictly increasing and positive, every epoch has a positive duration,
and curves without defects are returned unchanged.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hpprune.bench.sources import CurveSet, DirectionName

__all__ = [
    "ENV_VAR",
    "HYPERPARAMETERS",
    "METRICS",
    "default_data_dir",
    "lcbench_curves",
    "lcbench_curves_for_configs",
    "lcbench_tasks",
    "repair_cumulative_time",
    "resolve_data_dir",
    "sample_configs",
]

ENV_VAR = "HPPRUNE_LCBENCH_DIR"
"""Environment variable that points to the LCBench surrogate directory."""

_FIDELITY = "epoch"
_TASK_PARAM = "OpenML_task_id"
_NA_TASK = "#na#"

HYPERPARAMETERS: tuple[str, ...] = (
    "batch_size",
    "learning_rate",
    "momentum",
    "weight_decay",
    "num_layers",
    "max_units",
    "max_dropout",
)
"""The sampled hyperparameters, in the order of the model's ``x_cont`` columns 2..8."""

_OUTPUTS: tuple[str, ...] = (
    "time",
    "val_accuracy",
    "val_cross_entropy",
    "val_balanced_accuracy",
    "test_cross_entropy",
    "test_balanced_accuracy",
)

METRICS: dict[str, DirectionName] = {
    "val_accuracy": "maximize",
    "val_cross_entropy": "minimize",
    "val_balanced_accuracy": "maximize",
    "test_cross_entropy": "minimize",
    "test_balanced_accuracy": "maximize",
}
"""Metrics :func:`lcbench_curves` can return, with their optimisation direction."""

_REQUIRED_FILES: tuple[str, ...] = ("model.onnx", "encoding.json", "config_space.json")
_MAX_ROWS_PER_RUN = 200_000


def default_data_dir() -> Path:
    """The default surrogate directory, ``<project root>/../shared/data/lcbench``.

    Returns:
        The path (it may not exist).
    """
    project_root = Path(__file__).resolve().parents[2]
    return project_root.parent / "shared" / "data" / "lcbench"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Find the LCBench surrogate directory and check that its files are there.

    Args:
        data_dir: Explicit directory; when None, ``$HPPRUNE_LCBENCH_DIR`` or
            :func:`default_data_dir` is used.

    Returns:
        The resolved directory.

    Raises:
        FileNotFoundError: If the directory or one of ``model.onnx``,
            ``encoding.json``, ``config_space.json`` is missing; the message names
            the path and how to point hpprune elsewhere.
    """
    if data_dir is not None:
        path, origin = Path(data_dir), "the `data_dir` argument"
    elif os.environ.get(ENV_VAR):
        path, origin = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        path, origin = default_data_dir(), "the default location"
    hint = (
        f"pass `data_dir=...` or set the environment variable {ENV_VAR} to the directory "
        f"holding the YAHPO Gym LCBench files ({', '.join(_REQUIRED_FILES)})"
    )
    if not path.is_dir():
        raise FileNotFoundError(
            f"LCBench surrogate directory not found: {path} (from {origin}); {hint}"
        )
    for name in _REQUIRED_FILES:
        if not (path / name).is_file():
            raise FileNotFoundError(
                f"LCBench surrogate file missing: {path / name} (from {origin}); {hint}"
            )
    return path


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def _task_encoding(directory: Path) -> dict[str, int]:
    raw = _read_json(directory / "encoding.json")
    table = raw.get(_TASK_PARAM) if isinstance(raw, dict) else None
    if not isinstance(table, dict):
        raise ValueError(f"{directory / 'encoding.json'}: no {_TASK_PARAM!r} table")
    return {str(k): int(v) for k, v in table.items() if str(k) != _NA_TASK}


def _config_space(directory: Path) -> dict[str, dict[str, Any]]:
    raw = _read_json(directory / "config_space.json")
    hps = raw.get("hyperparameters") if isinstance(raw, dict) else None
    if not isinstance(hps, list):
        raise ValueError(f"{directory / 'config_space.json'}: no 'hyperparameters' list")
    space = {str(hp["name"]): dict(hp) for hp in hps if isinstance(hp, dict) and "name" in hp}
    for name in (_FIDELITY, *HYPERPARAMETERS):
        if name not in space:
            raise ValueError(f"{directory / 'config_space.json'}: hyperparameter {name!r} missing")
        if space[name].get("type") not in ("uniform_int", "uniform_float"):
            raise ValueError(
                f"{directory / 'config_space.json'}: hyperparameter {name!r} has unsupported "
                f"type {space[name].get('type')!r}"
            )
    return space


def lcbench_tasks(data_dir: str | os.PathLike[str] | None = None) -> tuple[str, ...]:
    """The task ids the surrogate knows (OpenML task ids as strings).

    Args:
        data_dir: Surrogate directory (see :func:`resolve_data_dir`).

    Returns:
        The task ids, in the order of ``encoding.json``.

    Raises:
        FileNotFoundError: If the surrogate directory is missing.
    """
    return tuple(_task_encoding(resolve_data_dir(data_dir)))


def _transform(u: npt.NDArray[np.float64], spec: Mapping[str, Any]) -> list[Any]:
    """Map uniform draws in [0, 1) onto one hyperparameter's range."""
    lower, upper = float(spec["lower"]), float(spec["upper"])
    log = bool(spec.get("log", False))
    if spec["type"] == "uniform_float":
        if log:
            lo, hi = math.log(lower), math.log(upper)
            x = np.exp(lo + u * (hi - lo))
        else:
            x = lower + u * (upper - lower)
        return [float(v) for v in np.clip(x, lower, upper)]
    # uniform_int: every integer in [lower, upper] gets the mass of the interval
    # [k - 0.5, k + 0.5] (measured on the log scale when `log` is set).
    lo, hi = lower - 0.5, upper + 0.5
    if log:
        lo, hi = math.log(lo), math.log(hi)
    x = lo + u * (hi - lo)
    if log:
        x = np.exp(x)
    return [int(v) for v in np.clip(np.rint(x), lower, upper)]


def _check_count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"`{name}` must be an int, got {type(value).__name__}")
    if int(value) < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    return int(value)


def sample_configs(
    n: int, seed: int, data_dir: str | os.PathLike[str] | None = None
) -> list[dict[str, Any]]:
    """Sample configurations uniformly from the LCBench search space.

    Each configuration draws one uniform number per hyperparameter (in the order of
    :data:`HYPERPARAMETERS`) from ``numpy.random.default_rng(seed)``; log-scaled
    ranges are sampled uniformly in log space and integer ranges are rounded. The
    result is deterministic, and the first ``k`` configurations of a sample of size
    ``n >= k`` equal a sample of size ``k`` with the same seed.

    Args:
        n: Number of configurations (>= 1).
        seed: Seed (>= 0).
        data_dir: Surrogate directory (see :func:`resolve_data_dir`).

    Returns:
        ``n`` dicts with plain ``int``/``float`` values for the keys in
        :data:`HYPERPARAMETERS` (never NaN or inf).

    Raises:
        TypeError: If ``n`` or ``seed`` is not an int.
        ValueError: If ``n < 1`` or ``seed < 0``.
        FileNotFoundError: If the surrogate directory is missing.
    """
    n = _check_count(n, "n", 1)
    seed = _check_count(seed, "seed", 0)
    space = _config_space(resolve_data_dir(data_dir))
    draws = np.random.default_rng(seed).random((n, len(HYPERPARAMETERS)))
    columns = {name: _transform(draws[:, k], space[name]) for k, name in enumerate(HYPERPARAMETERS)}
    return [{name: columns[name][i] for name in HYPERPARAMETERS} for i in range(n)]


@functools.lru_cache(maxsize=4)
def _session(model_path: str, mtime_ns: int) -> Any:
    """One onnxruntime session per (model file, modification time) and process."""
    del mtime_ns  # part of the cache key only
    try:
        import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise ImportError(
            "the LCBench surrogate needs onnxruntime: pip install hpprune[bench]"
        ) from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        model_path, sess_options=options, providers=["CPUExecutionProvider"]
    )


def _predict(directory: Path, task_index: int, x_cont: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
    model = directory / "model.onnx"
    session = _session(str(model.resolve()), model.stat().st_mtime_ns)
    parts = []
    for start in range(0, x_cont.shape[0], _MAX_ROWS_PER_RUN):
        chunk = x_cont[start : start + _MAX_ROWS_PER_RUN]
        x_cat = np.full((chunk.shape[0], 1), task_index, dtype=np.int32)
        (out,) = session.run(["output"], {"x_cat": x_cat, "x_cont": chunk})
        out = np.asarray(out)
        if out.shape != (chunk.shape[0], len(_OUTPUTS)):
            raise RuntimeError(
                f"{model}: expected output of shape {(chunk.shape[0], len(_OUTPUTS))}, "
                f"got {out.shape}"
            )
        parts.append(out)
    return np.concatenate(parts, axis=0)


def repair_cumulative_time(
    raw: npt.ArrayLike,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Make cumulative times strictly increasing and positive, row by row.

    Walking along each row, a raw time is kept if it is finite and larger than the
    repaired time before it (0 before the first column); otherwise it is replaced
    by the previous repaired time plus the row's typical step duration, the median
    of its positive, finite raw increments (if a row has none, the median over all
    rows; if there is none at all, 1 second).

    Args:
        raw: Cumulative times ``[n_rows, n_steps]``; NaN/±inf count as defects.

    Returns:
        ``(elapsed, repaired)``: the repaired float64 times and a boolean mask of
        the entries that were replaced.

    Raises:
        ValueError: If ``raw`` is not 2-D.
    """
    times = np.asarray(raw, dtype=np.float64)
    if times.ndim != 2:
        raise ValueError(f"`raw` must be 2-D [n_rows, n_steps], got shape {times.shape}")
    n_rows, n_steps = times.shape
    increments = np.diff(times, axis=1, prepend=0.0)
    positive = np.where(np.isfinite(increments) & (increments > 0), increments, np.nan)
    has_positive = ~np.all(np.isnan(positive), axis=1)
    rate = np.full(n_rows, np.nan)
    if np.any(has_positive):
        rate[has_positive] = np.nanmedian(positive[has_positive], axis=1)
        rate[~has_positive] = float(np.median(rate[has_positive]))
    else:
        rate[:] = 1.0
    elapsed = np.empty_like(times)
    repaired = np.zeros(times.shape, dtype=np.bool_)
    previous = np.zeros(n_rows)
    for j in range(n_steps):
        column = times[:, j]
        keep = np.isfinite(column) & (column > previous)
        elapsed[:, j] = np.where(keep, column, previous + rate)
        repaired[:, j] = ~keep
        previous = elapsed[:, j]
    return elapsed, repaired


def _check_configs(
    configs: Sequence[Mapping[str, Any]], space: Mapping[str, Mapping[str, Any]]
) -> npt.NDArray[np.float64]:
    """Validate user configurations and return them as a [n, 7] float array."""
    if isinstance(configs, Mapping) or not isinstance(configs, Sequence) or not configs:
        raise ValueError("`configs` must be a non-empty sequence of dicts")
    out = np.empty((len(configs), len(HYPERPARAMETERS)))
    for i, config in enumerate(configs):
        if not isinstance(config, Mapping):
            raise TypeError(f"`configs[{i}]` must be a dict, got {type(config).__name__}")
        for k, name in enumerate(HYPERPARAMETERS):
            if name not in config:
                raise ValueError(f"`configs[{i}]` lacks the hyperparameter {name!r}")
            value = config[name]
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise TypeError(f"`configs[{i}][{name!r}]` must be a number, got {value!r}")
            x = float(value)
            spec = space[name]
            lower, upper = float(spec["lower"]), float(spec["upper"])
            tolerance = 1e-9 * max(1.0, abs(upper))
            if not math.isfinite(x) or x < lower - tolerance or x > upper + tolerance:
                raise ValueError(
                    f"`configs[{i}][{name!r}]` = {value!r} is outside [{lower}, {upper}]"
                )
            if spec["type"] == "uniform_int" and x != round(x):
                raise ValueError(f"`configs[{i}][{name!r}]` = {value!r} must be an integer")
            out[i, k] = x
    return out


def lcbench_curves_for_configs(
    task: str,
    configs: Sequence[Mapping[str, Any]],
    data_dir: str | os.PathLike[str] | None = None,
    metric: str = "val_accuracy",
    config_ids: Sequence[str] | None = None,
) -> CurveSet:
    """Predict the learning curves of given configurations on one LCBench task.

    All epochs of all configurations are evaluated in one batched onnxruntime call.

    Args:
        task: OpenML task id as a string (e.g. ``"189906"``); ints are accepted.
        configs: Dicts with the keys in :data:`HYPERPARAMETERS`, values inside the
            search space (e.g. from :func:`sample_configs`).
        data_dir: Surrogate directory (see :func:`resolve_data_dir`).
        metric: One of :data:`METRICS`; accuracies are maximised, cross-entropies
            minimised.
        config_ids: Optional ids (default ``"cfg0000"``, ``"cfg0001"``, ...).

    Returns:
        A :class:`CurveSet` with steps ``1..52`` (the surrogate's epoch range),
        ``values`` as predicted (finite for in-range inputs; never NaN-filled),
        ``elapsed`` from the surrogate's time repaired by
        :func:`repair_cumulative_time`, and ``params`` = the configurations.

    Raises:
        FileNotFoundError: If the surrogate directory is missing.
        ImportError: If onnxruntime is not installed.
        ValueError: If ``task`` or ``metric`` is unknown, or a configuration is
            invalid (the message names it).
    """
    directory = resolve_data_dir(data_dir)
    task = str(task).strip()
    encoding = _task_encoding(directory)
    if task not in encoding:
        raise ValueError(f"unknown LCBench `task` {task!r}; known tasks: {', '.join(encoding)}")
    if metric not in METRICS:
        raise ValueError(f"unknown `metric` {metric!r}; choose one of {', '.join(METRICS)}")
    space = _config_space(directory)
    hyper = _check_configs(configs, space)
    n = hyper.shape[0]
    if config_ids is None:
        width = max(4, len(str(n - 1)))
        ids = tuple(f"cfg{i:0{width}d}" for i in range(n))
    else:
        ids = tuple(config_ids)

    fidelity = space[_FIDELITY]
    epochs = np.arange(int(fidelity["lower"]), int(fidelity["upper"]) + 1, dtype=np.int64)
    m = epochs.size
    x_cont = np.empty((n, m, 1 + len(HYPERPARAMETERS)), dtype=np.float32)
    x_cont[:, :, 0] = epochs[None, :]
    x_cont[:, :, 1:] = hyper[:, None, :]
    out = _predict(directory, encoding[task], x_cont.reshape(n * m, -1))
    out = out.reshape(n, m, len(_OUTPUTS)).astype(np.float64)

    elapsed, _ = repair_cumulative_time(out[:, :, _OUTPUTS.index("time")])
    return CurveSet(
        task=task,
        direction=METRICS[metric],
        config_ids=ids,
        values=out[:, :, _OUTPUTS.index(metric)],
        elapsed=elapsed,
        params=tuple(dict(c) for c in configs),
        steps=epochs,
    )


def lcbench_curves(
    task: str,
    n_configs: int,
    seed: int,
    data_dir: str | os.PathLike[str] | None = None,
    metric: str = "val_accuracy",
) -> CurveSet:
    """Learning curves of ``n_configs`` random configurations on one LCBench task.

    Configurations come from :func:`sample_configs` (so the same seed gives the same
    configurations on every task) and are evaluated by
    :func:`lcbench_curves_for_configs`. Config ids are ``"s<seed>-c<index>"``.

    Args:
        task: OpenML task id as a string, e.g. ``"167168"``, ``"189873"``, ``"189906"``.
        n_configs: Number of configurations (>= 1).
        seed: Sampling seed (>= 0).
        data_dir: Surrogate directory (see :func:`resolve_data_dir`).
        metric: One of :data:`METRICS` (default ``"val_accuracy"``, in percent).

    Returns:
        A deterministic :class:`CurveSet` of shape ``[n_configs, 52]``; values are
        finite (no NaN/inf) and elapsed times strictly increasing and positive.

    Raises:
        FileNotFoundError: If the surrogate directory is missing.
        ImportError: If onnxruntime is not installed.
        TypeError: If ``n_configs`` or ``seed`` is not an int.
        ValueError: If ``task`` or ``metric`` is unknown, ``n_configs < 1`` or
            ``seed < 0``.
    """
    n_configs = _check_count(n_configs, "n_configs", 1)
    configs = sample_configs(n_configs, seed, data_dir)
    width = max(4, len(str(n_configs - 1)))
    ids = [f"s{seed}-c{i:0{width}d}" for i in range(n_configs)]
    return lcbench_curves_for_configs(task, configs, data_dir, metric=metric, config_ids=ids)
