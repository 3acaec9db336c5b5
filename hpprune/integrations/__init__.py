"""Front doors to other tools; each is a thin adapter over :class:`hpprune.Engine`.

Import them from their modules so that their optional dependencies load only
when used, e.g. ``from hpprune.integrations.optuna import OptunaPruner``.
"""
