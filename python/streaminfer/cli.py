"""The ``streaminfer`` command.

Each subcommand is one ``add_*_parser(subparsers)`` function listed in
``SUBCOMMANDS``: it adds its parser and sets ``handler`` (``Namespace -> int``).
Handlers raise ``CommandError`` (or the model errors) for a one-line message
and exit status 2; anything heavy (the compiled core, the server) is imported
inside the handler that needs it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from streaminfer import __version__
from streaminfer.doctor import add_doctor_parser
from streaminfer.errors import CommandError
from streaminfer.models import ModelDownloadError, ModelNotFoundError, list_models, resolve_model
from streaminfer.server.serve import add_serve_parser

if TYPE_CHECKING:
    from typing import TypeAlias

    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _format_size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


def _models_pull(args: argparse.Namespace) -> int:
    path = resolve_model(args.model, progress=_progress)
    print(path)
    return 0


def _models_list(args: argparse.Namespace) -> int:
    rows = [("NAME", "SIZE", "LICENSE", "CACHED")]
    for info in list_models():
        name = info.name + "".join(f" ({alias})" for alias in info.aliases)
        cached = str(info.cached_path) if info.cached_path else "not cached"
        rows.append((name, _format_size(info.size_bytes), info.license, cached))
    w_name, w_size, w_license = (max(len(row[i]) for row in rows) for i in range(3))
    for name, size, license_, cached in rows:
        print(f"{name:<{w_name}}  {size:>{w_size}}  {license_:<{w_license}}  {cached}")
    return 0


def _models_info(args: argparse.Namespace) -> int:
    path = resolve_model(args.model, progress=_progress)
    try:
        from streaminfer import _core
    except ImportError as exc:
        raise CommandError(f"the compiled core streaminfer._core is not available: {exc}") from exc
    try:
        model = _core.Model(str(path))
    except (OSError, ValueError, RuntimeError) as exc:
        raise CommandError(f"cannot load {path}: {exc}") from exc
    rows = [
        ("path", str(path)),
        ("architecture", model.architecture),
        ("description", model.description),
        ("parameters", f"{model.n_params / 1e6:.1f} M ({model.n_params})"),
        ("size", _format_size(model.size_bytes)),
        ("n_ctx_train", str(model.n_ctx_train)),
        ("vocab size", str(model.n_vocab)),
        ("chat template", "yes" if model.has_chat_template else "no"),
    ]
    for key, value in rows:
        print(f"{key:<14} {value}")
    return 0


def add_models_parser(subparsers: Subparsers) -> None:
    models = subparsers.add_parser("models", help="fetch, list and inspect models")
    actions = models.add_subparsers(dest="action", metavar="ACTION", required=True)
    pull = actions.add_parser(
        "pull", help="fetch a known model into the cache; prints its path as the last line"
    )
    pull.add_argument("model", nargs="?", default="default", help="a known model name or a path")
    pull.set_defaults(handler=_models_pull)
    listing = actions.add_parser("list", help="the known models and whether they are cached")
    listing.set_defaults(handler=_models_list)
    info = actions.add_parser("info", help="load a model and print its metadata")
    info.add_argument("model", nargs="?", default="default", help="a known model name or a path")
    info.set_defaults(handler=_models_info)


# One entry per subcommand, in the order `--help` lists them: a function that
# adds its parser and sets its handler (which imports anything heavy itself).
SUBCOMMANDS: list[Callable[[Subparsers], None]] = [add_models_parser, add_serve_parser, add_doctor_parser]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streaminfer", description="Continuous inference over streaming data."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in SUBCOMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (CommandError, ModelNotFoundError, ModelDownloadError, OSError) as exc:
        print(f"streaminfer: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
