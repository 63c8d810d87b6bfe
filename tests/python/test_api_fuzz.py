"""Schema-driven fuzzing of every REST route (schemathesis, from the server's /openapi.json):
a bounded, seeded run of bench/fuzz.py's loop against a server of its own. Valid and invalid
requests, at a live session and at made-up ids: never a response >= 500, never a request
without a response, and the server healthy at the end. ``python -m bench fuzz`` is the long run.
"""

from __future__ import annotations

from pathlib import Path

import psutil
from api_server import HEALTH_PATH, serving

from bench.fuzz import fuzz

BUDGET = 80  # 120 took 1 minute here on quiet cores, 4 while two builds shared them
SEED = 11


def test_fuzzing_every_route_gives_no_server_error(model_path: Path) -> None:
    with serving(model_path, "--max-sessions", "4") as server:
        proc = psutil.Process(server.process.pid)
        rss_before = proc.memory_info().rss
        tally = fuzz(server.base_url, BUDGET, SEED)
        assert server.process.poll() is None, server.log()
        with server.client() as client:
            assert client.get(HEALTH_PATH).status_code == 200
        rss_after = proc.memory_info().rss
    print(f"fuzz: {tally.as_dict()}; RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB")
    assert tally.requests >= BUDGET
    assert tally.server_errors == []
    assert tally.crashes == []
    # the run reached the handlers, not only the routing layer's 404s
    assert tally.by_status[200] > 0 and tally.by_status[422] > 0
