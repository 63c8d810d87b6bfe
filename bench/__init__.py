"""streaminfer's benchmarks: one module per measurement, one entry point.

``python -m bench --help`` lists the measurements; ``python -m bench NAME
--help`` gives one's options. Every measurement prints markdown tables and
writes its raw figures as JSON under ``bench/out/``. The catalogue of
measurements is ``bench/catalog.py``; ``bench/README.md`` says what each
measures.

Importing this package (or ``bench.catalog``) loads no model and not
``streaminfer._core``: ``builds`` and ``gpu`` pick which build of the core
their child processes load.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
