"""Records as columns: what ``Session.push`` accepts besides a list of dicts, and
the window as a numpy structured array.

A record type's columns are its fields (docs/api.md, "Record types", e.g. ``o h
l c v`` for ``ohlcv``) and ``timestamp`` (Unix seconds, or numpy/pandas
datetimes). Numbers reach the core through the buffer protocol where they lie:
a float64 or int64 column is read in place, any other numeric column is
converted once. NaN (NaT for datetimes) marks a missing value. pandas is never
imported: a DataFrame is recognised by its shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

Rows = list[dict[str, Any]]
Columns = dict[str, Any]
PushInput: TypeAlias = "Rows | tuple[int, Columns]"


@dataclass(frozen=True)
class FieldLayout:
    """One field of a record type, as columns see it."""

    name: str
    kind: str  # "float", "int" or "str"
    required: bool


def dtype_of(fields: Sequence[FieldLayout], text_length: int) -> np.dtype[np.void]:
    """The window's structured dtype: ``timestamp`` (datetime64[s], NaT when absent), then
    the fields (float64, int64, or str of up to ``text_length`` characters, "" when absent)."""
    kinds = {"float": np.dtype(np.float64), "int": np.dtype(np.int64), "str": np.dtype(f"U{text_length}")}
    return np.dtype([("timestamp", "datetime64[s]")] + [(f.name, kinds[f.kind]) for f in fields])


def window_array(fields: Sequence[FieldLayout], rows: Rows, text_length: int) -> npt.NDArray[np.void]:
    """The core's window records (dicts, oldest first) as a structured array."""
    nat = np.datetime64("NaT", "s")
    defaults: dict[str, Any] = {"float": np.nan, "int": 0, "str": ""}
    tuples = [
        (
            np.datetime64(row["timestamp"], "s") if "timestamp" in row else nat,
            *(row.get(f.name, defaults[f.kind]) for f in fields),
        )
        for row in rows
    ]
    return np.array(tuples, dtype=dtype_of(fields, text_length))


def push_input(fields: Sequence[FieldLayout], records: object) -> PushInput:
    """``records`` as the core takes them: a list of dicts, or ``(count, columns)``.

    Accepts a list (or tuple) of mappings, one mapping, a numpy structured array, a 2-D
    numeric array whose columns are the numeric fields in order (optionally after a
    leading timestamp column; not for a type with a required text field), or a pandas
    DataFrame (its DatetimeIndex is the timestamp when it has no ``timestamp`` column).
    TypeError or ValueError says what does not fit.
    """
    if isinstance(records, Mapping):
        return [dict(records)]
    if isinstance(records, np.ndarray):
        return _from_array(fields, records)
    if _is_dataframe(records):
        return _from_dataframe(records)
    if isinstance(records, (list, tuple)):
        return list(records)
    raise TypeError(
        "records: a list of dicts, a numpy structured or 2-D numeric array, or a pandas DataFrame "
        f"expected, not {type(records).__name__}"
    )


def _from_array(fields: Sequence[FieldLayout], array: npt.NDArray[Any]) -> tuple[int, Columns]:
    if array.dtype.names is not None:
        if array.ndim != 1:
            raise ValueError(f"a structured array of one dimension expected, not {array.ndim}")
        return len(array), {name: _column(name, array[name]) for name in array.dtype.names}
    if array.ndim != 2 or array.dtype.kind not in "fiu":
        raise ValueError(
            f"a 2-D numeric array (one row per record) expected, not {array.ndim}-D of {array.dtype}"
        )
    text = [f.name for f in fields if f.kind == "str" and f.required]
    if text:
        raise ValueError(
            f"the record type has text fields ({', '.join(text)}): push a structured array, a DataFrame "
            "or dicts"
        )
    names = [f.name for f in fields if f.kind != "str"]
    if array.shape[1] == len(names) + 1:
        names = ["timestamp", *names]
    elif array.shape[1] != len(names):
        raise ValueError(
            f"{array.shape[1]} columns: {len(names)} expected ({' '.join(names)}), "
            f"or {len(names) + 1} with a leading timestamp"
        )
    return len(array), {name: _column(name, array[:, i]) for i, name in enumerate(names)}


def _is_dataframe(obj: object) -> bool:
    return type(obj).__name__ == "DataFrame" and type(obj).__module__.startswith("pandas")


def _from_dataframe(frame: Any) -> tuple[int, Columns]:
    columns: Columns = {}
    for name in frame.columns:
        series = frame[name]
        if not isinstance(series.dtype, np.dtype) and getattr(series.dtype, "kind", "O") in ("i", "u", "f"):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)  # nullable ints: pd.NA -> NaN
        else:
            values = series.to_numpy()
        columns[str(name)] = _column(str(name), values)
    index = frame.index
    if "timestamp" not in columns and str(getattr(index, "dtype", "")).startswith("datetime64"):
        columns["timestamp"] = _column("timestamp", index.to_numpy())
    return len(frame), columns


def _column(name: str, values: npt.NDArray[Any]) -> Any:
    """One column as the core reads it: float64 or int64 in place when it is one already,
    else converted once; text as a list of str (None where missing)."""
    kind = values.dtype.kind
    if kind == "M":  # datetimes: whole seconds since the epoch, NaT as NaN
        seconds = values.astype("datetime64[s]")
        out = seconds.astype(np.int64).astype(np.float64)
        out[np.isnat(seconds)] = np.nan
        return out
    if kind == "f":
        return values.astype(np.float64, copy=False)
    if kind in "iu":
        return values.astype(np.int64, copy=False)
    if kind == "b":
        raise ValueError(f"column '{name}': booleans are not numbers here")
    if kind == "U":
        return values.tolist()
    if kind == "O":
        items = values.tolist()
        if all(v is None or isinstance(v, str) or (isinstance(v, float) and v != v) for v in items):
            return [v if isinstance(v, str) else None for v in items]
        try:
            return values.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"column '{name}': numbers or text expected ({exc})") from exc
    raise ValueError(f"column '{name}': numbers or text expected, not {values.dtype}")
