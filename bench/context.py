"""What a measurement's ``run`` gets: its options, the model, which measurements of
the run were asked for, and the engine the in-process measurements share."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from streaminfer import _core


@dataclass
class Context:
    args: argparse.Namespace
    model: str  # a GGUF path
    selected: tuple[str, ...]  # the names of the measurements this run makes
    _engine: _core.Engine | None = field(default=None, repr=False)

    @property
    def threads(self) -> int:
        return int(self.args.threads)

    def engine(self) -> _core.Engine:
        """The engine ``tokens``, ``ingest`` and ``flash`` share (context 2048), loaded on first use."""
        if self._engine is None:
            self._engine = _core.Engine(self.model, n_ctx=2048, n_threads=self.threads)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
