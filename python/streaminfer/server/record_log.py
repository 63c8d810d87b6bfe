"""A session's record log: append-only segment files of length-prefixed, checksummed entries.

    seg-<first seq, 20 digits>.log   MAGIC, then entries:
    entry   <u32 payload length><u32 records><u64 first seq><u32 crc32>  (little-endian)
            payload: the records as one compact JSON array (UTF-8)

The crc covers the length, the count, the first seq and the payload. Records
are numbered by the session (its accepted-record index), and entries follow
each other without a gap. One entry is one ``os.write``: a killed process
leaves whole entries; a power loss may leave a torn tail, which ``open``
finds (a short entry, a bad checksum, a gap) and cuts off, reporting what was
lost.

Threads: the event loop appends, rolls, drops and reads; fsync runs in other
threads (the Flusher's, or a worker's for "always"), under the log's lock, so
it never fsyncs a closed descriptor.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

logger = logging.getLogger("streaminfer.server")

FSYNC_MODES: Final = ("always", "batch", "never")
# batch: a written entry reaches the disk at most this long after its write (plus the fsync).
BATCH_FSYNC_DELAY_S: Final = 0.02
MAGIC: Final = b"SILOG01\n"
HEADER: Final = struct.Struct("<IIQI")
MAX_ENTRY_BYTES: Final = 64 << 20


def _crc(length: int, count: int, first_seq: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(struct.pack("<IIQ", length, count, first_seq))) & 0xFFFFFFFF


def _segment_name(first_seq: int) -> str:
    return f"seg-{first_seq:020d}.log"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Replace ``path`` by ``data``: a crash leaves the old file or the new one, never a mix."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if fsync:
        _fsync_dir(path.parent)


@dataclass(frozen=True)
class ScanReport:
    segments: int
    entries: int
    records: int
    truncated_bytes: int  # cut from the tail (0: clean)
    lost_records: int  # in the cut entries, as far as their headers could be read
    lost_unknown: bool  # some cut bytes could not be framed: more may be lost
    detail: str  # what was wrong and where ("" when clean)
    next_seq: int


@dataclass
class _Segment:
    path: Path
    first_seq: int


def _open_segment(path: Path) -> int:
    """The segment's descriptor for appending; a new segment gets its magic first."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    if os.fstat(fd).st_size == 0:
        os.write(fd, MAGIC)
    return fd


def _segments(directory: Path) -> list[_Segment]:
    found = []
    for path in directory.glob("seg-*.log"):
        digits = path.name[4:-4]
        if digits.isdigit():
            found.append(_Segment(path, int(digits)))
    return sorted(found, key=lambda s: s.first_seq)


def _entries(data: bytes, expected_seq: int) -> Iterator[tuple[int, int, int, bytes]]:
    """(offset, first seq, count, payload) of each valid entry, stopping at the first bad one."""
    offset = len(MAGIC)
    while offset + HEADER.size <= len(data):
        length, count, first_seq, crc = HEADER.unpack_from(data, offset)
        end = offset + HEADER.size + length
        if length > MAX_ENTRY_BYTES or end > len(data) or first_seq != expected_seq:
            return
        payload = data[offset + HEADER.size : end]
        if _crc(length, count, first_seq, payload) != crc:
            return
        yield offset, first_seq, count, payload
        expected_seq += count
        offset = end


class RecordLog:
    def __init__(
        self, directory: Path, fsync: str, flusher: Flusher | None, segment: _Segment, next_seq: int
    ) -> None:
        self.directory = directory
        self.fsync_mode = fsync
        self.flusher = flusher
        self.next_seq = next_seq
        self.durable_seq = next_seq  # every record below it was fsynced
        self.fsyncs = 0
        self._segment = segment
        self._segment_entries = 0
        self._lock = threading.Lock()  # the fd, against the flusher's fsync
        self._fd: int | None = _open_segment(segment.path)

    @classmethod
    def open(
        cls, directory: Path, fsync: str, flusher: Flusher | None = None, start_seq: int | None = None
    ) -> tuple[RecordLog, ScanReport]:
        """Scan the segments, cut a torn or corrupt tail, and open the last one for appending.

        ``start_seq`` is where the session's checkpoint ends: the log must begin at or
        before it (what follows a hole is cut). A log that ends before it, its tail lost
        to a power loss, holds nothing the checkpoint lacks: it starts over at start_seq.
        None: the log begins where its first segment does (0 when it has none)."""
        directory.mkdir(parents=True, exist_ok=True)
        segments = _segments(directory)
        entries = records = truncated = lost = 0
        unknown = False
        detail = ""
        if start_seq is None:
            start_seq = segments[0].first_seq if segments else 0
        next_seq = min(segments[0].first_seq, start_seq) if segments else start_seq
        kept: list[_Segment] = []
        last_entries = 0
        for seg in segments:
            data = seg.path.read_bytes()
            if detail:  # everything after a bad entry follows a hole
                truncated += len(data)
                unknown = True
                seg.path.unlink()
                continue
            if seg.first_seq != next_seq or not data.startswith(MAGIC):
                bad_at = 0
                why = f"does not start at record {next_seq}" if seg.first_seq != next_seq else "has no header"
            else:
                bad_at, last_entries, why = len(data), 0, ""
                end = len(MAGIC)
                for offset, _, count, _payload in _entries(data, next_seq):
                    entries, records, last_entries = entries + 1, records + count, last_entries + 1
                    next_seq += count
                    end = offset + HEADER.size + len(_payload)
                if end < len(data):
                    bad_at, why = end, "fails its check (torn or corrupt)"
            if bad_at < len(data):
                cut = data[bad_at:]
                truncated += len(cut)
                if len(cut) >= HEADER.size and bad_at > 0:
                    length, count, first, _ = HEADER.unpack_from(cut)
                    # the checkpoint holds what is below start_seq
                    lost += max(0, first + count - max(first, start_seq)) if length <= MAX_ENTRY_BYTES else 0
                    unknown = unknown or length > MAX_ENTRY_BYTES or len(cut) > HEADER.size + length
                else:
                    unknown = True
                detail = f"{seg.path.name}: the entry at byte {bad_at} {why}; {len(cut)} bytes cut"
                if bad_at == 0:
                    seg.path.unlink()
                    continue
                os.truncate(seg.path, bad_at)
            kept.append(seg)
        behind = next_seq < start_seq
        if behind:
            for seg in kept:
                seg.path.unlink()
            kept, next_seq = [], start_seq
        if kept:
            current = kept[-1]
        else:
            current, last_entries = _Segment(directory / _segment_name(next_seq), next_seq), 0
        log = cls(directory, fsync, flusher, current, next_seq)
        log._segment_entries = last_entries
        if truncated or behind:
            log.fsync()
            _fsync_dir(directory)
        report = ScanReport(len(segments), entries, records, truncated, lost, unknown, detail, next_seq)
        return log, report

    def append(self, records: Sequence[Any]) -> int:
        """Write one entry; returns its first seq. On "batch" the flusher syncs it within
        BATCH_FSYNC_DELAY_S; on "always" the caller calls fsync() (the server does it off the
        event loop, one fsync for the pushes waiting at once). OSError leaves the log as it was."""
        first = self.next_seq
        if not records:
            return first
        payload = json.dumps(list(records), separators=(",", ":"), ensure_ascii=False).encode()
        if len(payload) > MAX_ENTRY_BYTES:
            raise OSError(f"a push of {len(payload)} bytes exceeds the log's entry limit ({MAX_ENTRY_BYTES})")
        n = len(records)
        header = HEADER.pack(len(payload), n, first, _crc(len(payload), n, first, payload))
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        try:
            written = os.write(self._fd, header + payload)
            if written != HEADER.size + len(payload):
                raise OSError(f"short write to {self._segment.path} ({written} bytes)")
        except OSError:
            os.ftruncate(self._fd, size)
            raise
        self.next_seq = first + len(records)
        self._segment_entries += 1
        if self.flusher is not None:
            self.flusher.mark(self)
        return first

    def read_from(self, seq: int) -> Iterator[tuple[int, Any]]:
        """Every logged record from ``seq`` on, oldest first."""
        for seg in _segments(self.directory):
            data = seg.path.read_bytes()
            for _, first, count, payload in _entries(data, seg.first_seq):
                if first + count <= seq:
                    continue
                for i, record in enumerate(json.loads(payload)):
                    if first + i >= seq:
                        yield first + i, record

    def roll(self) -> None:
        """Start a new segment at next_seq (none when the current one holds no entry)."""
        if self._segment_entries == 0:
            return
        if self.fsync_mode != "never":
            self.fsync()
        seg = _Segment(self.directory / _segment_name(self.next_seq), self.next_seq)
        fd = _open_segment(seg.path)
        with self._lock:
            old, self._fd = self._fd, fd
        if old is not None:
            os.close(old)
        self._segment, self._segment_entries = seg, 0

    def drop_before(self, seq: int) -> int:
        """Delete the segments every record of which is below ``seq``; returns how many."""
        segments = _segments(self.directory)
        removed = 0
        for seg, following in itertools.pairwise(segments):
            if following.first_seq <= seq and seg.path != self._segment.path:
                seg.path.unlink()
                removed += 1
        if removed:
            _fsync_dir(self.directory)
        return removed

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.iterdir() if p.is_file())

    def fsync(self) -> None:
        """Any thread. Every record appended before the call is on disk on return."""
        with self._lock:
            if self._fd is not None:
                written = self.next_seq  # read before the fsync: each of its writes has returned
                os.fsync(self._fd)
                self.fsyncs += 1
                self.durable_seq = max(self.durable_seq, written)

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            if self.fsync_mode != "never":
                os.fsync(fd)
                self.durable_seq = self.next_seq  # a waiter for a later fsync stops waiting
            os.close(fd)

    def destroy(self) -> None:
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)


class Flusher:
    """One thread that fsyncs the logs written in batch mode: every write of the last
    BATCH_FSYNC_DELAY_S shares one fsync per file (group commit)."""

    def __init__(self, delay_s: float = BATCH_FSYNC_DELAY_S) -> None:
        self.delay_s = delay_s
        self.fsyncs = 0
        self._dirty: set[RecordLog] = set()
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="streaminfer-fsync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def mark(self, log: RecordLog) -> None:
        with self._cond:
            if not self._dirty:
                self._cond.notify()
            self._dirty.add(log)

    def flush_now(self) -> None:
        with self._cond:
            dirty, self._dirty = self._dirty, set()
        for log in dirty:
            try:
                log.fsync()
                self.fsyncs += 1
            except OSError:
                logger.exception("fsync of %s failed", log.directory)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._dirty and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
            # Gather the writes of the next delay_s into the same fsync.
            with self._cond:
                self._cond.wait_for(lambda: self._stop, timeout=self.delay_s)
            self.flush_now()

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join()
        self.flush_now()
