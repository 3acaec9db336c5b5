"""``python -m hpprune.bench ...``: the same as ``hpprune bench ...``."""

from hpprune.bench.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
