"""``python -m hpprune``: the same as the ``hpprune`` command."""

from hpprune.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
