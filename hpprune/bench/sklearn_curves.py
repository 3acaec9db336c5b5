"""Real learning curves from training scikit-learn models epoch by epoch.

Each task is ``"<dataset>-<model>"`` with a dataset shipped inside scikit-learn
(``digits``, ``breast_cancer``, ``wine``; nothing is downloaded) and a model trained
with ``partial_fit``, one call per epoch:

* ``sgd`` — :class:`sklearn.linear_model.SGDClassifier`; hyperparameters ``alpha``
  (log 1e-6..1e-1), ``eta0`` (log 1e-4..1), ``learning_rate`` (constant, optimal,
  invscaling, adaptive), ``penalty`` (l2, l1, elasticnet), ``loss`` (hinge,
  log_loss, modified_huber).
* ``mlp`` — :class:`sklearn.neural_network.MLPClassifier` (one hidden layer, Adam);
  hyperparameters ``hidden_units`` (log 16..128), ``learning_rate_init``
  (log 1e-4..1e-1), ``alpha`` (log 1e-6..1e-1), ``batch_size`` (log 16..256).

The value at each epoch is the validation accuracy (a fraction in 0..1, maximised)
on a stratified 30 % hold-out; the elapsed time is the measured cumulative
``time.perf_counter`` seconds spent in ``partial_fit`` (evaluation excluded).
Everything except the elapsed times is deterministic for a given seed.

Results are cached as one ``.npz`` file per (task, n_configs, seed, max_step,
scikit-learn version) under ``cache_dir`` (default ``$HPPRUNE_CACHE_DIR/sklearn_curves``
or ``~/.cache/hpprune/sklearn_curves``), so a repeated call returns the same
curves, elapsed times included, without training again.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hpprune.bench.sources import CurveSet

__all__ = [
    "CACHE_ENV_VAR",
    "default_cache_dir",
    "sklearn_cache_path",
    "sklearn_curves",
    "sklearn_tasks",
]

CACHE_ENV_VAR = "HPPRUNE_CACHE_DIR"
"""Environment variable for hpprune's cache root (``sklearn_curves/`` lives below it)."""

_CACHE_FORMAT = 1
_DATASETS: tuple[str, ...] = ("digits", "breast_cancer", "wine")
_MODELS: tuple[str, ...] = ("sgd", "mlp")
_VALIDATION_FRACTION = 0.3

# name -> (kind, lower/choices, upper); kinds: "logfloat", "logint", "choice".
_SPACES: dict[str, tuple[tuple[str, str, Any, Any], ...]] = {
    "sgd": (
        ("alpha", "logfloat", 1e-6, 1e-1),
        ("eta0", "logfloat", 1e-4, 1.0),
        ("learning_rate", "choice", ("constant", "optimal", "invscaling", "adaptive"), None),
        ("penalty", "choice", ("l2", "l1", "elasticnet"), None),
        ("loss", "choice", ("hinge", "log_loss", "modified_huber"), None),
    ),
    "mlp": (
        ("hidden_units", "logint", 16, 128),
        ("learning_rate_init", "logfloat", 1e-4, 1e-1),
        ("alpha", "logfloat", 1e-6, 1e-1),
        ("batch_size", "logint", 16, 256),
    ),
}


def sklearn_tasks() -> tuple[str, ...]:
    """All task names accepted by :func:`sklearn_curves`.

    Returns:
        Names of the form ``"<dataset>-<model>"``.
    """
    return tuple(f"{d}-{m}" for d in _DATASETS for m in _MODELS)


def default_cache_dir() -> Path:
    """The default cache directory for scikit-learn curves.

    Returns:
        ``$HPPRUNE_CACHE_DIR/sklearn_curves`` if the variable is set, else
        ``$XDG_CACHE_HOME/hpprune/sklearn_curves`` or
        ``~/.cache/hpprune/sklearn_curves``.
    """
    root = os.environ.get(CACHE_ENV_VAR)
    if root:
        return Path(root).expanduser() / "sklearn_curves"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "hpprune" / "sklearn_curves"


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"`{name}` must be an int, got {type(value).__name__}")
    if int(value) < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    return int(value)


def _check_task(task: object) -> tuple[str, str]:
    if not isinstance(task, str):
        raise TypeError(f"`task` must be a string, got {type(task).__name__}")
    dataset, _, model = task.rpartition("-")
    if dataset not in _DATASETS or model not in _MODELS:
        raise ValueError(f"unknown `task` {task!r}; choose one of {', '.join(sklearn_tasks())}")
    return dataset, model


def _cache_key(task: str, n_configs: int, seed: int, max_step: int) -> dict[str, Any]:
    import sklearn  # type: ignore[import-untyped,unused-ignore]

    return {
        "format": _CACHE_FORMAT,
        "task": task,
        "n_configs": n_configs,
        "seed": seed,
        "max_step": max_step,
        "sklearn": str(sklearn.__version__),
    }


def _key_digest(key: dict[str, Any]) -> str:
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def sklearn_cache_path(
    task: str,
    n_configs: int,
    seed: int,
    max_step: int,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Where :func:`sklearn_curves` caches the curves for these arguments.

    Args:
        task: Task name (see :func:`sklearn_tasks`).
        n_configs: Number of configurations.
        seed: Seed.
        max_step: Number of epochs.
        cache_dir: Cache directory (default :func:`default_cache_dir`).

    Returns:
        The path of the ``.npz`` cache file (it may not exist).

    Raises:
        ImportError: If scikit-learn is not installed.
    """
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    digest = _key_digest(_cache_key(task, n_configs, seed, max_step))
    return directory / f"{task}-{digest}.npz"


def _sample_params(model: str, n_configs: int, seed: int) -> list[dict[str, Any]]:
    """Draw hyperparameters; row ``i`` only depends on (seed, i), not on n_configs."""
    space = _SPACES[model]
    draws = np.random.default_rng(seed).random((n_configs, len(space)))
    configs: list[dict[str, Any]] = []
    for row in draws:
        config: dict[str, Any] = {}
        for u, (name, kind, low, high) in zip(row, space, strict=True):
            if kind == "choice":
                config[name] = low[min(int(u * len(low)), len(low) - 1)]
            elif kind == "logfloat":
                config[name] = float(math.exp(math.log(low) + u * (math.log(high) - math.log(low))))
            else:  # logint: integer k gets the log-mass of [k - 0.5, k + 0.5]
                lo, hi = math.log(low - 0.5), math.log(high + 0.5)
                config[name] = int(min(max(round(math.exp(lo + u * (hi - lo))), low), high))
        configs.append(config)
    return configs


def _load_data(dataset: str, seed: int) -> tuple[npt.NDArray[Any], ...]:
    from sklearn import datasets  # type: ignore[import-untyped,unused-ignore]
    from sklearn.model_selection import (  # type: ignore[import-untyped,unused-ignore]
        train_test_split,
    )
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped,unused-ignore]

    loader: Callable[..., Any] = getattr(datasets, f"load_{dataset}")
    x, y = loader(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=_VALIDATION_FRACTION, stratify=y, random_state=seed
    )
    scaler = StandardScaler().fit(x_train)
    return (
        np.asarray(scaler.transform(x_train), dtype=np.float64),
        np.asarray(scaler.transform(x_val), dtype=np.float64),
        np.asarray(y_train),
        np.asarray(y_val),
    )


def _make_model(model: str, params: dict[str, Any], random_state: int) -> Any:
    if model == "sgd":
        from sklearn.linear_model import SGDClassifier  # type: ignore[import-untyped,unused-ignore]

        return SGDClassifier(
            alpha=params["alpha"],
            eta0=params["eta0"],
            learning_rate=params["learning_rate"],
            penalty=params["penalty"],
            loss=params["loss"],
            random_state=random_state,
        )
    from sklearn.neural_network import MLPClassifier  # type: ignore[import-untyped,unused-ignore]

    return MLPClassifier(
        hidden_layer_sizes=(params["hidden_units"],),
        learning_rate_init=params["learning_rate_init"],
        alpha=params["alpha"],
        batch_size=params["batch_size"],
        random_state=random_state,
    )


def _train_config(
    model: str,
    params: dict[str, Any],
    random_state: int,
    data: tuple[npt.NDArray[Any], ...],
    max_step: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Train one configuration for ``max_step`` epochs; return (accuracy, elapsed)."""
    x_train, x_val, y_train, y_val = data
    classes = np.unique(y_train)
    estimator = _make_model(model, params, random_state)
    accuracy = np.full(max_step, np.nan)
    elapsed = np.full(max_step, np.nan)
    total = 0.0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # Diverging configurations (large constant step sizes) overflow; that is data.
        warnings.simplefilter("ignore")
        for epoch in range(max_step):
            start = time.perf_counter()
            estimator.partial_fit(x_train, y_train, classes=classes)
            total += max(time.perf_counter() - start, 1e-9)
            elapsed[epoch] = total
            try:
                accuracy[epoch] = float(estimator.score(x_val, y_val))
            except (ValueError, FloatingPointError):
                accuracy[epoch] = math.nan  # a diverged model that cannot even predict
    return accuracy, elapsed


def _read_cache(path: Path, key: dict[str, Any]) -> CurveSet | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("key") != key:
                return None
            return CurveSet(
                task=meta["task"],
                direction="maximize",
                config_ids=tuple(meta["config_ids"]),
                values=np.array(data["values"]),
                elapsed=np.array(data["elapsed"]),
                params=tuple(meta["params"]),
                steps=np.array(data["steps"]),
            )
    except FileNotFoundError:
        return None
    except Exception as exc:  # corrupt or foreign file: recompute and overwrite
        warnings.warn(f"ignoring unreadable cache file {path}: {exc}", UserWarning, stacklevel=3)
        return None


def _write_cache(path: Path, key: dict[str, Any], curves: CurveSet) -> None:
    meta = {
        "key": key,
        "task": curves.task,
        "config_ids": list(curves.config_ids),
        "params": list(curves.params or ()),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(
                    fh,
                    values=curves.values,
                    elapsed=np.asarray(curves.elapsed),
                    steps=curves.steps,
                    meta=np.array(json.dumps(meta, sort_keys=True)),
                )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        warnings.warn(f"could not write cache file {path}: {exc}", UserWarning, stacklevel=3)


def sklearn_curves(
    task: str = "digits-sgd",
    n_configs: int = 30,
    seed: int = 0,
    max_step: int = 20,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> CurveSet:
    """Train scikit-learn models epoch by epoch and return their learning curves.

    Args:
        task: ``"<dataset>-<model>"``, see :func:`sklearn_tasks`.
        n_configs: Number of random configurations (>= 1). Configuration ``i`` is
            the same for every ``n_configs > i`` with the same seed.
        seed: Seed for the hyperparameters, the train/validation split and the
            models (>= 0).
        max_step: Number of epochs (>= 1); steps are ``1..max_step``.
        cache_dir: Cache directory (default :func:`default_cache_dir`).
        use_cache: Read and write the cache; False always trains and writes nothing.

    Returns:
        A CurveSet (direction ``"maximize"``) with validation accuracies in 0..1 and
        measured cumulative training seconds. A value is NaN only if a diverged
        model cannot predict at all (not observed with the built-in tasks); elapsed
        times are always finite, positive and strictly increasing.

    Raises:
        ImportError: If scikit-learn is not installed.
        TypeError: If an argument has the wrong type.
        ValueError: If ``task`` is unknown or a count is out of range.
    """
    dataset, model = _check_task(task)
    n_configs = _check_int(n_configs, "n_configs", 1)
    seed = _check_int(seed, "seed", 0)
    max_step = _check_int(max_step, "max_step", 1)
    try:
        import sklearn  # type: ignore[import-untyped,unused-ignore]  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "scikit-learn curves need scikit-learn: pip install hpprune[bench]"
        ) from exc

    key = _cache_key(task, n_configs, seed, max_step)
    path = sklearn_cache_path(task, n_configs, seed, max_step, cache_dir)
    if use_cache:
        cached = _read_cache(path, key)
        if cached is not None:
            return cached

    data = _load_data(dataset, seed)
    configs = _sample_params(model, n_configs, seed)
    values = np.empty((n_configs, max_step))
    elapsed = np.empty((n_configs, max_step))
    for i, params in enumerate(configs):
        random_state = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        values[i], elapsed[i] = _train_config(model, params, random_state, data, max_step)
    width = max(4, len(str(n_configs - 1)))
    curves = CurveSet(
        task=task,
        direction="maximize",
        config_ids=tuple(f"s{seed}-c{i:0{width}d}" for i in range(n_configs)),
        values=values,
        elapsed=elapsed,
        params=tuple(configs),
        steps=np.arange(1, max_step + 1, dtype=np.int64),
    )
    if use_cache:
        _write_cache(path, key, curves)
    return curves
