"""``python -m bench NAME [options]``: run one measurement, or a group of them.

``python -m bench --help`` lists them (``bench/catalog.py``).
"""

from __future__ import annotations

import importlib
import sys

from bench import catalog


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(catalog.usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    single = catalog.find(name)
    if single is None and catalog.group(name) is None:
        print(f"bench: no measurement or group {name!r}\n\n{catalog.usage()}", file=sys.stderr)
        return 2
    if single is not None and not single.group:  # builds, gpu: their own options and processes
        return int(importlib.import_module(f"bench.{single.module}").main(rest))
    from bench import runner  # imports streaminfer._core: not before a tool could pick its build

    return runner.main(name, rest)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
