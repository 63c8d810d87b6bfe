"""``streaminfer serve``: run the API under uvicorn.

Cheap to import (the CLI imports it to build its parser): uvicorn, Starlette
and the compiled core are imported by the handler only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from streaminfer.errors import CommandError
from streaminfer.server.config import MiB, ServerConfig

if TYPE_CHECKING:
    from typing import TypeAlias

    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
API_KEYS_ENV = "STREAMINFER_API_KEYS"


def _int_at_least(minimum: int, maximum: int | None = None) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def add_serve_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the REST, SSE and WebSocket server",
        description="Serve the session API (docs/api.md) over HTTP, SSE and WebSocket.",
    )
    parser.add_argument(
        "--model", default="default", help="a known model name (default: %(default)s) or a GGUF path"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port",
        type=_int_at_least(0),
        default=8080,
        help="port to listen on, 0 for any (default: %(default)s)",
    )
    parser.add_argument(
        "--ctx-size",
        type=int,
        default=2048,
        metavar="N",
        help="each session's context size in tokens (default: %(default)s)",
    )
    parser.add_argument(
        "--threads", type=_int_at_least(0), default=0, metavar="N", help="decode threads, 0 = automatic"
    )
    parser.add_argument(
        "--gpu-layers", type=_int_at_least(0), default=0, metavar="N", help="layers to offload to a GPU build"
    )
    parser.add_argument(
        "--flash-attn",
        default="auto",
        metavar="MODE",
        help="flash attention: auto (where the backend supports it), on or off (default: %(default)s)",
    )
    parser.add_argument(
        "--no-kv-offload",
        dest="offload_kv",
        action="store_false",
        help="keep the KV cache in host memory when layers are offloaded to a GPU",
    )
    parser.add_argument(
        "--no-repack",
        dest="repack",
        action="store_false",
        help="keep the weights in the file's layout: no repacking for ggml's AVX2/AVX-512 kernels or "
        "AMX tiles (a workaround if those kernels misbehave on this CPU)",
    )
    parser.add_argument(
        "--api-key",
        dest="api_keys",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY",
        help=f"require 'Authorization: Bearer KEY' (also ${API_KEYS_ENV}, comma-separated)",
    )
    parser.add_argument(
        "--max-sessions",
        type=_int_at_least(1),
        default=16,
        metavar="N",
        help="live sessions (default: %(default)s)",
    )
    parser.add_argument(
        "--queue-capacity",
        type=int,  # the core checks the range (as it does --worker-nice's and --ctx-size's)
        default=4096,
        metavar="N",
        help="records queued per session before pushes drop (default: %(default)s)",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=10,
        metavar="N",
        help="nice increment (0-19) of the decode threads, so the HTTP/WebSocket loop preempts them; "
        "0 keeps them at the server's priority (default: %(default)s)",
    )
    parser.add_argument(
        "--max-body-size",
        type=_int_at_least(1024),
        default=16 * MiB,
        metavar="BYTES",
        help="largest request body and WebSocket frame (default: 16 MiB)",
    )
    parser.add_argument(
        "--sse-ping-interval",
        type=_positive_float,
        default=15.0,
        metavar="SECONDS",
        help="': ping' comment after this much SSE silence (default: %(default)s)",
    )
    parser.add_argument(
        "--no-metrics",
        dest="metrics",
        action="store_false",
        help="do not serve Prometheus metrics at /metrics (served by default, behind the API key when set)",
    )
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="(default: %(default)s)")
    parser.set_defaults(handler=serve)


def _say(message: str) -> None:
    print(f"streaminfer: {message}", file=sys.stderr, flush=True)


def serve(args: argparse.Namespace) -> int:
    from streaminfer.models import resolve_model

    api_keys = list(args.api_keys)
    api_keys += [key.strip() for key in os.environ.get(API_KEYS_ENV, "").split(",") if key.strip()]
    if any(not key.strip() for key in api_keys):
        raise CommandError("an API key must not be empty")
    model_path = resolve_model(args.model, progress=_say)
    try:
        import uvicorn

        from streaminfer import _core  # noqa: F401  (fail now, not after the server started)
        from streaminfer.server.app import create_app
    except ImportError as exc:
        raise CommandError(f"cannot start the server: {exc}") from exc

    config = ServerConfig(
        model_path=str(model_path),
        host=args.host,
        port=args.port,
        ctx_size=args.ctx_size,
        threads=args.threads,
        n_gpu_layers=args.gpu_layers,
        flash_attn=args.flash_attn,
        offload_kv=args.offload_kv,
        repack=args.repack,
        api_keys=tuple(api_keys),
        max_sessions=args.max_sessions,
        queue_capacity=args.queue_capacity,
        worker_nice=args.worker_nice,
        max_body_bytes=args.max_body_size,
        max_ws_frame_bytes=args.max_body_size,
        sse_ping_interval_s=args.sse_ping_interval,
        metrics=args.metrics,
        log_level=args.log_level,
    )
    level = logging.DEBUG if args.log_level == "trace" else getattr(logging, args.log_level.upper())
    logging.basicConfig(level=level, format="%(levelname)s:     %(name)s: %(message)s")

    fatal: list[BaseException] = []

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                for server in getattr(self, "servers", []):
                    for sock in server.sockets or ():
                        host, port = sock.getsockname()[:2]
                        shown = f"[{host}]" if ":" in str(host) else host
                        _say(f"listening on http://{shown}:{port}")

        async def shutdown(self, sockets: Any = None) -> None:
            app.state.runtime.begin_shutdown()
            await super().shutdown(sockets)

    def on_fatal(exc: BaseException) -> None:
        fatal.append(exc)
        server.should_exit = True

    app = create_app(config, announce=_say, on_fatal=on_fatal)
    keys_note = f", {len(api_keys)} API key(s)" if api_keys else ", no API key"
    _say(f"starting the server on {args.host}:{args.port}{keys_note}")
    server = Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            ws_max_size=config.max_ws_frame_bytes,
            # Every subscriber gets the same serialized event; compressing it per socket
            # would cost the loop as much again for each of them.
            ws_per_message_deflate=False,
            timeout_graceful_shutdown=5,
            access_log=args.log_level in ("debug", "trace"),
        )
    )
    server.run()
    if fatal:
        raise CommandError(f"the engine failed to start: {fatal[0]}")
    return 0
