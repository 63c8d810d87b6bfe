"""Host and Origin checks as pure ASGI middleware, for HTTP requests and WebSocket handshakes.

Without API keys (the default) whatever reaches the port drives the API, and a
browser can reach a loopback server for a web page elsewhere in two ways:
sending requests from the page (the browser adds the page's ``Origin``), and
DNS rebinding, a name of the attacker's re-pointed at 127.0.0.1 (the browser
sends that name as ``Host``). So a request is answered only when its ``Host``
is one the server is known by (``--allowed-hosts``), and, when it carries an
``Origin``, that origin is allowed too (``--allowed-origins``). docs/api.md
("Conventions") gives the defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from streaminfer.server.auth import refuse
from streaminfer.server.errors import APIError, HostNotAllowed, OriginNotAllowed

ANY = "*"


def host_name(value: str) -> str:
    """The host of a ``Host`` header or an allow-list entry, lower case, without its port;
    an IPv6 address in brackets (``[::1]``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value.partition("]")[0] + "]"
    if value.count(":") > 1:  # a bare IPv6 address, as written on the command line
        return f"[{value}]"
    return value.partition(":")[0]


def origin_key(value: str) -> str:
    """An origin as ``scheme://host[:port]``, lower case, for comparison ("null" stays "null")."""
    parts = urlsplit(value.strip().lower())
    if not parts.scheme or not parts.netloc:
        return value.strip().lower()
    return f"{parts.scheme}://{parts.netloc}"


def _origin_host(value: str) -> str | None:
    try:
        netloc = urlsplit(value.strip()).netloc
    except ValueError:
        return None
    return host_name(netloc.rpartition("@")[2]) if netloc else None


class HostOriginMiddleware:
    def __init__(
        self, app: ASGIApp, allowed_hosts: Sequence[str], allowed_origins: Sequence[str] | None
    ) -> None:
        self.app = app
        self.any_host = ANY in allowed_hosts
        self.hosts = frozenset(host_name(h) for h in allowed_hosts if h != ANY)
        self.any_origin = allowed_origins is not None and ANY in allowed_origins
        self.origins = (
            None if allowed_origins is None else frozenset(origin_key(o) for o in allowed_origins if o != ANY)
        )

    def _origin_allowed(self, origin: str, request_host: str) -> bool:
        if self.any_origin:
            return True
        if self.origins is not None:
            return origin_key(origin) in self.origins
        # By default a page of the server's own host only: on an allowed host when hosts are
        # listed, else the request's own host (a page served by this server, such as /docs).
        host = _origin_host(origin)
        if host is None:
            return False
        return host == request_host if self.any_host else host in self.hosts

    def refusal(self, scope: Scope) -> APIError | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        name = host_name(host)
        if not self.any_host and name not in self.hosts:
            return HostNotAllowed(f"Host {host!r} is not one this server answers to (--allowed-hosts)")
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(origin, name):
            return OriginNotAllowed(f"Origin {origin!r} may not use this server (--allowed-origins)")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = self.refusal(scope) if scope["type"] in ("http", "websocket") else None
        if error is None:
            await self.app(scope, receive, send)
            return
        await refuse(scope, receive, send, error)
