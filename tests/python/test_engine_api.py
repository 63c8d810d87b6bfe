"""``streaminfer.Engine``, the in-process API, on the real model: records pushed as dicts,
numpy arrays and DataFrames reach the window as the same records; bad columns are refused
whole; answers, ad-hoc questions and events as a user without a server sees them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from engine_helpers import QUESTION

import streaminfer
from streaminfer import DataUpdated, Engine, FlashAnswer

FIELDS = ("o", "h", "l", "c", "v")
T0 = 1_700_000_000


@pytest.fixture(scope="module")
def engine(model_path: Path) -> Iterator[Engine]:
    with Engine(model_path, threads=2) as eng:
        yield eng


def candles(n: int) -> np.ndarray:
    """Rows of timestamp, o, h, l, c, v with values a float64 holds exactly."""
    close = 100 + np.arange(n) * 0.25
    t = T0 + 60 * np.arange(n)
    return np.column_stack([t, close - 0.5, close + 1, close - 1, close, 1000 + 10 * np.arange(n)])


def as_dicts(rows: np.ndarray) -> list[dict[str, float | int]]:
    return [{"timestamp": int(r[0]), **dict(zip(FIELDS, r[1:].tolist(), strict=True))} for r in rows]


def window_rows(session: streaminfer.Session) -> list[tuple[object, ...]]:
    return [tuple(x) for x in session.window().tolist()]


def test_every_input_form_reaches_the_window_as_the_same_records(engine: Engine) -> None:
    rows = candles(16)
    structured = np.zeros(len(rows), dtype=[("timestamp", "datetime64[s]"), *[(f, "f8") for f in FIELDS]])
    structured["timestamp"] = rows[:, 0].astype("datetime64[s]")
    for i, f in enumerate(FIELDS):
        structured[f] = rows[:, i + 1]
    frame = pd.DataFrame(rows[:, 1:], columns=list(FIELDS), index=pd.to_datetime(rows[:, 0], unit="s"))
    frame["v"] = frame["v"].astype(np.int32)  # converted once on the way in
    doubled = np.repeat(rows, 2, axis=0)[::2]  # a view with a stride of two rows
    forms: dict[str, object] = {
        "dicts": as_dicts(rows),
        "2-D array with a timestamp column": rows,
        "2-D strided view": doubled,
        "Fortran-ordered array": np.asfortranarray(rows),
        "structured array": structured,
        "DataFrame with a DatetimeIndex": frame,
    }
    windows = {}
    for name, records in forms.items():
        with engine.session("ohlcv", window_size=16) as session:
            result = session.push(records)
            assert (result.pushed, result.dropped) == (16, 0), name
            session.wait_fresh(timeout=120)
            windows[name] = window_rows(session)
            assert session.status().items_processed == 16, name
    expected = [(np.datetime64(int(r[0]), "s").item(), *r[1:].tolist(), "") for r in rows]  # sym: absent, ""
    for name, window in windows.items():
        assert window == expected, name


def test_bad_columns_are_refused_whole_naming_the_record_and_field(engine: Engine) -> None:
    rows = candles(4)
    with engine.session("ohlcv") as session:
        missing = rows.copy()
        missing[2, 4] = np.nan  # c of the third record
        with pytest.raises(ValueError, match=r"data\[2\]\.c: is required"):
            session.push(missing)
        with pytest.raises(ValueError, match=r"5 expected \(o h l c v\)"):
            session.push(rows[:, :3])
        with pytest.raises(ValueError, match="column 'close' is not a field of ohlcv"):
            session.push(pd.DataFrame({"close": [1.0]}))
        with pytest.raises(ValueError, match="must be an integer"):
            session.push(np.column_stack([rows[:, 0] + 0.5, rows[:, 1:]]))
        with pytest.raises(TypeError, match="a list of dicts"):
            session.push("o,h,l,c,v")
        status = session.status()
        assert (status.total_enqueued, status.queue_size, status.data_count) == (0, 0, 0)
    with engine.session("event") as session, pytest.raises(ValueError, match="text fields"):
        session.push(np.ones((2, 2)))


def test_text_columns_and_missing_timestamps(engine: Engine) -> None:
    frame = pd.DataFrame(
        {
            "src": ["fw-01", "fw-02", "ids-1"],
            "sev": [1, 4, 2],
            "cat": ["auth", "scan", "auth"],
            "cnt": [3, 40, 1],
            "timestamp": [T0, None, T0 + 120],
        }
    )
    with engine.session("event") as session:
        assert session.push(frame).pushed == 3
        session.wait_fresh(timeout=120)
        window = session.window()
    assert window["src"].tolist() == ["fw-01", "fw-02", "ids-1"]
    assert window["sev"].dtype == np.int64 and window["sev"].tolist() == [1, 4, 2]
    assert np.isnat(window["timestamp"]).tolist() == [False, True, False]
    assert window["timestamp"][2] == np.datetime64(T0 + 120, "s")


def test_answers_ad_hoc_questions_and_events(engine: Engine) -> None:
    seen: list[object] = []

    async def read_events(session: streaminfer.Session) -> list[object]:
        return [event async for event in session.events()]

    with engine.session("ohlcv", flash=[QUESTION], window_size=16) as session:
        session.on_event(seen.append)
        loop = asyncio.new_event_loop()
        reader = loop.create_task(read_events(session))
        loop.run_until_complete(asyncio.sleep(0))  # the iterator subscribes
        session.push(candles(16))
        answers = session.wait_fresh(timeout=120)
        version = session.status().data_version
        assert [a.query for a in answers] == [QUESTION]
        assert answers[0].value and answers[0].data_version >= version > 0

        cached = session.ask(QUESTION)
        assert cached.from_cache and cached.text == answers[0].value
        asked = session.ask("What is the last close?", max_tokens=8)
        assert not asked.from_cache and 0 < asked.n_tokens <= 8 and asked.data_version == version
        with pytest.raises(TimeoutError):
            session.ask("Describe every record in detail.", max_tokens=200, timeout=0.001)
        assert session.ask("What is the last close?", max_tokens=8).text == asked.text
    streamed = loop.run_until_complete(asyncio.wait_for(reader, 30))  # ends with the session
    loop.close()
    assert any(isinstance(e, DataUpdated) and e.data_version == version for e in seen)
    assert any(isinstance(e, FlashAnswer) and e.value == answers[0].value for e in seen)
    assert streamed == seen


def test_public_names_resolve_and_import_loads_no_core() -> None:
    for name in streaminfer.__all__:
        assert getattr(streaminfer, name) is not None, name
    code = "import sys, streaminfer; sys.exit('streaminfer._core' in sys.modules or 'httpx' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
