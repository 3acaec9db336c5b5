"""Front doors to other tools; each is a thin adapter over :class:`hpprune.Engine`.

Import them from their modules so that their optional dependencies load only
when used, e.g. ``from hpprune.integrations.optuna import OptunaPruner``.
Importing one without its package raises an ImportError that names the
``pip install 'hpprune[...]'`` command.
"""

from __future__ import annotations

__all__ = ["missing_extra"]


def missing_extra(exc: ImportError, package: str, extra: str, module: str) -> ImportError:
    """The ImportError to raise when ``module`` cannot import its optional ``package``.

    Args:
        exc: The error raised while importing ``package``.
        package: The top-level package the module needs (``"optuna"``, ``"ray"``).
        extra: The hpprune extra that installs it.
        module: The hpprune module being imported.

    Returns:
        An ImportError naming the install command when ``package`` itself is
        missing; ``exc`` unchanged when something else failed to import.
    """
    name = exc.name or ""
    if name.split(".")[0] != package:
        return exc
    return ImportError(
        f"{module} needs {package}, which is not installed; "
        f"install it with: pip install 'hpprune[{extra}]'",
        name=package,
    )
