"""Prometheus ``/metrics``: the core's counters and stage latencies, and the HTTP layer's own.

Nothing is counted twice: at each scrape, ``EngineCollector`` reads every
session's counters and latency histograms from the core (``state()``,
``latency()``), which measures them with a monotonic clock on its own
threads. Only what the core cannot see, HTTP requests by route and status,
is counted here, by ``HTTPMetrics``.

Every name starts with ``streaminfer_``. Per-session series carry a
``session`` label; their number is bounded by ``--max-sessions``, and a
deleted session's series go with it. Route labels are route templates
(``/v1/sessions/{session_id}/stream/push``), never raw paths.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streaminfer.server.api_route import APIRoute

if TYPE_CHECKING:
    from streaminfer._core import SessionState, StageLatency
    from streaminfer.server.runtime import Runtime

# The exported buckets (seconds): from a tenth of a millisecond to a minute. Each is
# a bound of the core's finer grid (_core.LATENCY_BOUNDS_US), so they are exact sums.
BUCKETS_S = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0,
)  # fmt: skip


def _bucket_bounds_us() -> list[int]:
    from streaminfer import _core

    exported = [round(b * 1e6) for b in BUCKETS_S]
    missing = set(exported) - set(_core.LATENCY_BOUNDS_US)
    if missing:
        raise RuntimeError(f"bucket bounds {sorted(missing)} us are not on the core's latency grid")
    return exported


def _buckets(stage: StageLatency, bounds_us: list[int], grid_us: list[int]) -> list[tuple[str, float]]:
    """The core's per-bucket counts, cumulated at the exported bounds (and +Inf)."""
    out: list[tuple[str, float]] = []
    total, i = 0, 0
    for bound_s, bound_us in zip(BUCKETS_S, bounds_us, strict=True):
        while i < len(grid_us) and grid_us[i] <= bound_us:
            total += stage.counts[i]
            i += 1
        out.append((repr(bound_s), float(total)))
    out.append(("+Inf", float(stage.count)))
    return out


# (metric, counter, help): the per-session counters, as the core names them.
_RECORD_COUNTERS = (
    ("records_enqueued", "total_enqueued", "Records accepted by push."),
    ("records_processed", "items_processed", "Records decoded into the window."),
    ("records_dropped", "total_dropped", "Records refused by push because the session's queue was full."),
    ("records_skipped", "skipped", "Records accepted but never decoded: they were older than the window."),
    ("flash_refreshes", "flash_runs", "Times the flash queries were answered again."),
)
_GENERATE_OUTCOMES = ("completed", "cached", "failed", "cancelled")


class EngineCollector:
    """The core's figures for every session, read at scrape time."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._bounds_us = _bucket_bounds_us()

    def collect(self) -> Iterator[Metric]:
        from streaminfer import _core

        rt = self._runtime
        sessions = GaugeMetricFamily("streaminfer_sessions", "Live sessions.")
        sessions.add_metric([], len(rt.registry))
        yield sessions
        limit = GaugeMetricFamily("streaminfer_max_sessions", "The session limit (--max-sessions).")
        limit.add_metric([], rt.registry.max_sessions)
        yield limit

        figures: list[tuple[str, SessionState, list[StageLatency]]] = []
        for session_id, entry in rt.registry.entries():
            try:
                figures.append((session_id, entry.session.state(), entry.session.latency()))
            except RuntimeError:  # closed while the scrape ran: it is gone from the next one
                continue
        yield from self._counters(figures)
        yield from self._gauges(figures)
        grid = list(_core.LATENCY_BOUNDS_US)
        stages = figures[0][2] if figures else []
        for k, stage in enumerate(stages):
            family = HistogramMetricFamily(
                f"streaminfer_{stage.name}_seconds", stage.description, labels=["session"]
            )
            for session_id, _, latency in figures:
                s = latency[k]
                family.add_metric([session_id], _buckets(s, self._bounds_us, grid), s.sum_us / 1e6)
            yield family

    @staticmethod
    def _counters(figures: list[tuple[str, SessionState, list[StageLatency]]]) -> Iterator[Metric]:
        for metric, counter, doc in _RECORD_COUNTERS:
            family = CounterMetricFamily(f"streaminfer_{metric}", doc, labels=["session"])
            for session_id, state, _ in figures:
                family.add_metric([session_id], getattr(state.counters, counter))
            yield family
        tokens = CounterMetricFamily(
            "streaminfer_tokens_decoded",
            "Tokens decoded, by what they were: the prefix, records, or questions and answers.",
            labels=["session", "kind"],
        )
        generates = CounterMetricFamily(
            "streaminfer_generate_requests",
            "Generate and chat requests by outcome (cached: answered from a fresh flash query).",
            labels=["session", "outcome"],
        )
        for session_id, state, _ in figures:
            c = state.counters
            tokens.add_metric([session_id, "prefix"], c.prefix_tokens)
            tokens.add_metric([session_id, "data"], c.total_data_tokens)
            tokens.add_metric([session_id, "query"], c.tokens_decoded - c.prefix_tokens - c.total_data_tokens)
            for outcome in _GENERATE_OUTCOMES:
                generates.add_metric([session_id, outcome], getattr(c, f"generate_{outcome}"))
        yield tokens
        yield generates

    @staticmethod
    def _gauges(figures: list[tuple[str, SessionState, list[StageLatency]]]) -> Iterator[Metric]:
        gauges: tuple[tuple[str, str, Callable[[SessionState], int]], ...] = (
            ("kv_cells_used", "KV cache cells the session's live sequence holds.", lambda s: s.pos_next),
            ("kv_cells_total", "KV cache cells of the session's context.", lambda s: s.context_size),
            ("queue_size", "Records accepted and not yet decoded.", lambda s: s.queue_size),
            ("window_records", "Records in the window.", lambda s: s.data_count),
        )
        for name, doc, read in gauges:
            family = GaugeMetricFamily(f"streaminfer_{name}", doc, labels=["session"])
            for session_id, state, _ in figures:
                family.add_metric([session_id], read(state))
            yield family


class HTTPMetrics:
    """ASGI middleware: HTTP requests by route template, method and status, and their duration."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes
        labels = ["route", "method", "status"]
        self.requests = Counter(
            "streaminfer_http_requests", "HTTP requests by route and status.", labels, registry=registry
        )
        self.duration = Histogram(
            "streaminfer_http_request_duration_seconds",
            "From the request's arrival to its response's start (a stream's first bytes).",
            ["route", "method"],
            buckets=BUCKETS_S,
            registry=registry,
        )

    def _template(self, scope: Scope) -> str:
        route = scope.get("route")
        if isinstance(route, Route):
            return route.path
        for candidate in self.routes:  # refused before routing (401): match it here
            match, _ = candidate.matches(scope)
            if match is not Match.NONE and isinstance(candidate, Route):
                return candidate.path
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, route = 500, ""

        async def send_and_count(message: Message) -> None:
            nonlocal status, route
            if message["type"] == "http.response.start":
                status, route = int(message["status"]), self._template(scope)
                self.duration.labels(route, scope["method"]).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_and_count)
        finally:
            self.requests.labels(route or self._template(scope), scope["method"], str(status)).inc()


def create_registry(runtime: Runtime) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(runtime))
    return registry


async def metrics(request: Request) -> Response:
    """Prometheus metrics, in its text exposition format (docs/api.md, "Metrics")."""
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


route = APIRoute("GET", "/metrics", metrics, tag="service", needs_engine=False, produces=CONTENT_TYPE_LATEST)
