"""Schema-driven fuzzing of every REST route with schemathesis, from the server's own
``/openapi.json``: valid and invalid requests, against a live session and against
made-up session ids, then sequences that follow the document's links from a
new session to its routes.

``python -m bench fuzz --requests 100000`` starts ``streaminfer serve`` and sends
about that many requests; it records every response >= 500 (must be 0), every
request that failed without a response (a crash or a dropped connection, must be
0), the server's health at the end, and its RSS before and after.
``tests/python/test_api_fuzz.py`` runs the same loop with a small budget.

The SSE route ``GET /v1/sessions/{id}/events`` is left out: its stream ends only
when the session does, and the SSE and WebSocket tests cover it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from bench import OUT_DIR

UNENDING = {("GET", "/v1/sessions/{session_id}/events")}


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    """A session file body (import): whatever was generated, as one line of JSON."""
    return json.dumps(value).encode() + b"\n" if not isinstance(value, bytes) else value


CALL_TIMEOUT_S = 120.0  # a /generate of the most tokens allowed, on 2 shared cores
# Examples per operation and flavour in one round; a long run is many rounds of new
# seeds. Hypothesis grows its examples through a run, and a run of thousands spends
# its time building megabyte bodies rather than sending requests.
EXAMPLES_PER_ROUND = 25


@dataclass
class Tally:
    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "server_errors": self.server_errors[:50],
            "crashes": self.crashes[:50],
        }


class LiveSession:
    """A real session the fuzzer aims at; made again whenever a fuzzed DELETE removed it,
    and the sessions the fuzzer created are deleted between operations (they would fill
    every slot)."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=base, headers=headers, trust_env=False, timeout=60)
        self.id = ""

    def ensure(self) -> str:
        listing = self.http.get("/v1/sessions").json().get("sessions", [])
        for item in listing:
            if item["session_id"] != self.id:
                self.http.delete(f"/v1/sessions/{item['session_id']}")
        if self.id not in {item["session_id"] for item in listing}:
            created = self.http.post("/v1/sessions/init", json={"type": "ohlcv", "flash": ["Trend?"]})
            created.raise_for_status()
            self.id = created.json()["session_id"]
            self.http.post(
                f"/v1/sessions/{self.id}/stream/push",
                json={"data": [{"o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 10, "sym": "X"}]},
            )
        return self.id

    def close(self) -> None:
        self.http.close()


def _fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    live: bool,
    target: LiveSession,
    base: str,
    http: requests.Session,
    headers: dict[str, str],
    examples: int,
    seed: int,
    tally: Tally,
) -> None:
    pinned = {}
    if live and "{session_id}" in operation.path:
        pinned = {"session_id": target.ensure()}
    elif live:
        target.ensure()
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=pinned or None)

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def one(case: Any) -> None:
        label = f"{case.method} {case.formatted_path}"
        tally.requests += 1
        try:
            response = case.call(base_url=base, session=http, headers=headers, timeout=CALL_TIMEOUT_S)
        except requests.RequestException as exc:
            tally.crashes.append(f"{label}: {exc!r}")
            return
        tally.by_status[response.status_code] += 1
        if response.status_code >= 500:
            tally.server_errors.append(f"{label} -> {response.status_code}: {response.text[:300]}")

    with contextlib.suppress(Unsatisfiable):  # an operation without inputs has no invalid form
        one()


def fuzz(
    base: str,
    budget: int,
    seed: int,
    headers: dict[str, str] | None = None,
    progress: Callable[[Tally], None] | None = None,
) -> Tally:
    """About ``budget`` requests over every operation, each in four flavours (valid or
    invalid data, against the live session or a generated id), deterministic for a seed;
    then ``budget / 40`` linked sequences (``fuzz_stateful``)."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", headers=headers)
    operations = [
        op.ok()
        for op in schema.get_all_operations()
        if (op.ok().method.upper(), op.ok().path) not in UNENDING
    ]
    flavours = [
        (mode, live) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) for live in (True, False)
    ]
    per_run = min(EXAMPLES_PER_ROUND, max(1, math.ceil(budget / (len(operations) * len(flavours)))))
    tally = Tally()
    target = LiveSession(base, headers)
    http = requests.Session()
    try:
        round_seed = seed
        while tally.requests < budget:  # hypothesis stops early where it has few distinct cases
            for operation in operations:
                for mode, live in flavours:
                    _fuzz_operation(
                        operation, mode, live, target, base, http, headers, per_run, round_seed, tally
                    )
                if progress is not None:
                    progress(tally)
            round_seed += 1
        try:
            fuzz_stateful(base, max(5, budget // 40), tally, headers)
        except requests.RequestException as exc:
            tally.crashes.append(f"a linked sequence: {exc!r}")
    finally:
        target.close()
        http.close()
    return tally


def fuzz_stateful(base: str, scenarios: int, tally: Tally, headers: dict[str, str] | None = None) -> None:
    """Sequences of calls that follow the document's links: a session created, then its
    routes called with its id (schemathesis' state machine), ``scenarios`` of them, the
    same ones every run (derandomized)."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", headers=headers)
    for method, path in UNENDING:
        schema = schema.exclude(method=method, path=path)
    machine: Any = schema.as_state_machine()

    class Scenario(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": base, "headers": headers, "timeout": CALL_TIMEOUT_S}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            label = f"{case.method} {case.formatted_path}"
            tally.requests += 1
            tally.by_status[response.status_code] += 1
            if response.status_code >= 500:
                tally.server_errors.append(f"{label} -> {response.status_code}: {response.text[:300]}")

    run_settings = settings(
        max_examples=scenarios,
        stateful_step_count=8,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    Scenario.run(settings=run_settings)


# -- the long run ------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench fuzz", description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=100000, help="about this many (default: %(default)s)")
    p.add_argument("--seed", type=int, default=11, help="(default: %(default)s)")
    p.add_argument(
        "--model",
        default="default",
        help="a known name or a .gguf path; a tiny random model (python -m bench.synthetic_gguf) "
        "keeps decoding from bounding the request rate (default: %(default)s)",
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="fuzz.json")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    import psutil

    from bench.report import machine, machine_line, table, write_json
    from bench.servers import ours_options
    from streaminfer.models import resolve_model
    from streaminfer.server import launch

    args = parse(argv)
    port = launch.free_port()
    cmd = launch.serve_command(str(resolve_model(args.model)), port, *ours_options(1024, args.threads))
    t0 = time.monotonic()
    with launch.running(cmd, port, OUT_DIR / "streaminfer.log", "/v1/health", timeout=180.0) as server:
        proc = psutil.Process(server.process.pid)
        rss_before = proc.memory_info().rss

        def progress(t: Tally) -> None:
            print(f"fuzz: {t.requests} requests, {len(t.server_errors)} >= 500, {len(t.crashes)} crashes")

        tally = fuzz(server.base_url, args.requests, args.seed, progress=progress)
        alive = server.process.poll() is None
        health = (
            httpx.get(server.base_url + "/v1/health", timeout=30, trust_env=False).status_code if alive else 0
        )
        rss_after = proc.memory_info().rss if alive else 0
    result = {
        "machine": machine(),
        "command": f"python -m bench fuzz --requests {args.requests} --seed {args.seed} --model {args.model}",
        "seconds": time.monotonic() - t0,
        **tally.as_dict(),
        "server_alive": alive,
        "health_at_end": health,
        "rss_before_mb": rss_before / 2**20,
        "rss_after_mb": rss_after / 2**20,
    }
    write_json(args.out, result)
    rows = [
        ("requests", tally.requests),
        ("responses >= 500 (must be 0)", len(tally.server_errors)),
        ("requests without a response (must be 0)", len(tally.crashes)),
        ("health at the end", health),
        ("RSS before / after, MB", f"{result['rss_before_mb']:.0f} / {result['rss_after_mb']:.0f}"),
        ("statuses", ", ".join(f"{k}: {v}" for k, v in result["by_status"].items())),
        ("seconds", f"{result['seconds']:.0f}"),
    ]
    print(f"{machine_line(result['machine'])}\n\n`{result['command']}`\n\n" + table(("", "value"), rows))
    for line in tally.server_errors[:20] + tally.crashes[:20]:
        print("  " + line)
    print(f"JSON: {OUT_DIR / args.out}")
    return 0 if not tally.server_errors and not tally.crashes and health == 200 else 1
