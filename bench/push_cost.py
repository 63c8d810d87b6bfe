"""Records/s through ``Session.push`` alone (no HTTP, no event loop): the core's push path.

Run it with one build of the core and then another (``PYTHONPATH=<package>``)
to compare them; ``bench/RESULTS.md`` has the pairs. The queue holds a million
records, so nothing drops; the model decodes in the background meanwhile.
"""

from __future__ import annotations

import statistics
import time

from streaminfer import _core
from streaminfer.models import resolve_model


def main() -> None:
    eng = _core.Engine(str(resolve_model("default")), n_ctx=1024, n_threads=2, queue_capacity=1 << 20)
    rec = {"o": 185.5, "h": 186.2, "l": 185.1, "c": 185.9, "v": 12345, "timestamp": 1700000000}
    out = []
    for batch in (1, 100):
        rates = []
        for r in range(5):
            session_id = f"s{batch}_{r}"
            session = eng.create_session(session_id, "ohlcv", "", 1024, 16)
            records = [rec] * batch
            n = 20000 // batch * (1 if batch == 1 else 5)
            started = time.perf_counter()
            for _ in range(n):
                session.push(records)
            rates.append(n * batch / (time.perf_counter() - started))
            eng.destroy_session(session_id)
        out.append(f"batch {batch}: median {statistics.median(rates):,.0f} records/s (5 rounds)")
    print(" | ".join(out))
    eng.close()


if __name__ == "__main__":
    main()
