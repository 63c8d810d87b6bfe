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
from streaminfer.server.config import MiB, ServerConfig, default_max_kv_bytes
from streaminfer.server.record_log import BATCH_FSYNC_DELAY_S, FSYNC_MODES

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


_UNITS = {
    "": 1,
    "b": 1,
    **{f"{p}b": 1000 ** (i + 1) for i, p in enumerate("kmgt")},
    **{f"{p}ib": 1024 ** (i + 1) for i, p in enumerate("kmgt")},
}


def parse_size(text: str) -> int:
    """Bytes, as a number or with a unit: KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB,
    TiB (powers of 1024), case-insensitive: ``512MiB``, ``4GiB``, ``1.5GB``."""
    stripped = text.strip().lower()
    number = stripped.rstrip("kmgtib ")
    unit = stripped[len(number) :].strip()
    try:
        value = float(number) * _UNITS[unit]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"expected bytes such as 512MiB or 4GiB, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2^63 bytes, got {text!r}")
    return int(value)


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _name_list(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected at least one name (comma-separated), or *")
    return names


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
        "--max-records-per-push",
        type=_int_at_least(1),
        default=10_000,
        metavar="N",
        help="records in one push, HTTP or WebSocket; 413 past it (default: %(default)s)",
    )
    parser.add_argument(
        "--max-generates-per-session",
        type=_int_at_least(1),
        default=4,
        metavar="N",
        help="generations in flight per session; 429 past it (default: %(default)s)",
    )
    parser.add_argument(
        "--max-generates",
        type=_int_at_least(1),
        default=32,
        metavar="N",
        help="generations in flight in all sessions; 429 past it (default: %(default)s)",
    )
    parser.add_argument(
        "--sse-ping-interval",
        type=_positive_float,
        default=15.0,
        metavar="SECONDS",
        help="': ping' comment after this much SSE silence (default: %(default)s)",
    )
    parser.add_argument(
        "--generate-timeout",
        type=_positive_float,
        default=600.0,
        metavar="SECONDS",
        help="longest a non-streamed generate waits for its answer, and a streamed one for its next "
        "token, before answering 503 timeout (default: %(default)s)",
    )
    parser.add_argument(
        "--allowed-hosts",
        type=_name_list,
        default=None,
        metavar="HOSTS",
        help="comma-separated Host names answered (any port), * for any; others get 421 "
        "(default: localhost, 127.0.0.1 and [::1] when bound to a loopback address, else any)",
    )
    parser.add_argument(
        "--allowed-origins",
        type=_name_list,
        default=None,
        metavar="ORIGINS",
        help="comma-separated origins (scheme://host[:port]) whose pages may call the API, * for any; "
        "others get 403 (default: pages of an allowed host; of the request's own host when any is)",
    )
    parser.add_argument(
        "--session-ttl",
        type=_non_negative_float,
        default=3600.0,
        metavar="SECONDS",
        help="delete a session idle this long (no request, no SSE/WebSocket subscriber); 0 = never "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--max-kv-memory",
        type=parse_size,
        default=None,
        metavar="BYTES",
        help="KV cache all sessions together may hold, e.g. 512MiB or 4GiB; init past it gets 507; "
        "0 = no budget (default: half the machine's RAM)",
    )
    parser.add_argument(
        "--state-dir",
        default=None,
        metavar="DIR",
        help="keep sessions on disk: every acknowledged record, the flash queries and counters survive a "
        "restart or a crash, and sessions come back on start (default: in memory only)",
    )
    parser.add_argument(
        "--fsync",
        choices=FSYNC_MODES,
        default="batch",
        help="with --state-dir, when a pushed record reaches the disk: always (before the ack), batch "
        f"(within {BATCH_FSYNC_DELAY_S * 1000:g} ms) or never (when the OS writes it); a record survives a "
        "crash of the server in every mode, a power loss as this says (default: %(default)s)",
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
        from streaminfer.server import log_redaction
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
        max_records_per_push=args.max_records_per_push,
        max_generates_per_session=args.max_generates_per_session,
        max_generates=args.max_generates,
        sse_ping_interval_s=args.sse_ping_interval,
        generate_timeout_s=args.generate_timeout,
        allowed_hosts=args.allowed_hosts,
        allowed_origins=args.allowed_origins,
        session_ttl_s=args.session_ttl,
        max_kv_bytes=default_max_kv_bytes() if args.max_kv_memory is None else args.max_kv_memory,
        state_dir=args.state_dir,
        fsync=args.fsync,
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
            await app.state.runtime.begin_shutdown()
            await super().shutdown(sockets)

    def on_fatal(exc: BaseException) -> None:
        fatal.append(exc)
        server.should_exit = True

    app = create_app(config, announce=_say, on_fatal=on_fatal)
    keys_note = f", {len(api_keys)} API key(s)" if api_keys else ", no API key"
    _say(f"starting the server on {args.host}:{args.port}{keys_note}")
    uvicorn_config = uvicorn.Config(
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
    log_redaction.install()  # after uvicorn.Config, which sets its log handlers up
    server = Server(uvicorn_config)
    server.run()
    if fatal:
        raise CommandError(f"the engine failed to start: {fatal[0]}")
    return 0
