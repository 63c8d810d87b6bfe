"""streaminfer: continuous inference over streaming data.

Importing the package is cheap: the compiled core (``streaminfer._core``) and
the server are imported only by the code that uses them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("streaminfer")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
