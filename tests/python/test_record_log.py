"""The record log on real files: round trips, a torn or corrupt tail, segments, fsync modes."""

from __future__ import annotations

from pathlib import Path

from polling import wait_for

from streaminfer.server.record_log import HEADER, Flusher, RecordLog, write_atomic


def records(n: int, start: int = 0) -> list[dict[str, int]]:
    return [{"cnt": i} for i in range(start, start + n)]


def test_appends_read_back_across_segments_and_a_reopen(tmp_path: Path) -> None:
    log, report = RecordLog.open(tmp_path, "never", start_seq=10)
    assert report.next_seq == 10 and report.truncated_bytes == 0
    assert log.append(records(3)) == 10
    log.roll()
    assert log.append(records(4, 3)) == 13
    log.close()
    log, report = RecordLog.open(tmp_path, "never")
    assert (report.entries, report.records, log.next_seq) == (2, 7, 17)
    assert [seq for seq, _ in log.read_from(12)] == [12, 13, 14, 15, 16]
    assert [r["cnt"] for _, r in log.read_from(0)] == list(range(7))
    log.roll()
    log.append(records(1, 7))
    assert log.drop_before(17) == 2  # both older segments hold only records below 17
    assert [seq for seq, _ in log.read_from(0)] == [17]
    log.close()


def test_a_torn_tail_is_cut_and_counted(tmp_path: Path) -> None:
    log, _ = RecordLog.open(tmp_path, "always")
    for start in (0, 2, 4):
        log.append(records(2, start))
    assert (log.durable_seq, log.fsyncs) == (0, 0)  # "always": the caller's fsync, off the event loop
    log.fsync()
    assert (log.durable_seq, log.fsyncs) == (6, 1)
    segment = log._segment.path
    log.close()
    size = segment.stat().st_size
    segment.write_bytes(segment.read_bytes()[:-5])
    log, report = RecordLog.open(tmp_path, "always")
    assert (report.records, report.lost_records, report.lost_unknown) == (4, 2, False)
    assert report.truncated_bytes == size - 5 - segment.stat().st_size
    assert segment.name in report.detail
    assert log.append(records(1, 9)) == 4  # appends go on after the last good entry
    assert [seq for seq, _ in log.read_from(0)] == [0, 1, 2, 3, 4]
    log.close()


def test_close_fsyncs_so_no_waiter_is_left_behind(tmp_path: Path) -> None:
    """A push waiting for its fsync while its session is deleted sees the log durable."""
    log, _ = RecordLog.open(tmp_path, "always")
    log.append(records(3))
    log.close()
    log.fsync()  # closed: nothing to do
    assert log.durable_seq == 3


def test_a_corrupt_entry_cuts_everything_after_it(tmp_path: Path) -> None:
    log, _ = RecordLog.open(tmp_path, "never")
    log.append(records(2))
    log.append(records(2, 2))
    segment = log._segment.path
    log.close()
    data = bytearray(segment.read_bytes())
    data[len(b"SILOG01\n") + HEADER.size + 3] ^= 0xFF  # inside the first entry's payload
    segment.write_bytes(bytes(data))
    log, report = RecordLog.open(tmp_path, "never")
    assert (report.records, report.lost_records, log.next_seq) == (0, 2, 0)
    assert "fails its check" in report.detail
    log.close()


def test_a_log_behind_its_checkpoint_starts_over_there(tmp_path: Path) -> None:
    """A power loss took the log's tail, not the (fsynced) checkpoint's: the records the
    log still holds are all in the checkpoint, and only what is past it counts as lost."""
    log, _ = RecordLog.open(tmp_path, "never")
    log.append(records(3))
    log.append(records(4, 3))
    segment = log._segment.path
    log.close()
    segment.write_bytes(segment.read_bytes()[:-5])
    log, report = RecordLog.open(tmp_path, "never", start_seq=5)
    assert (report.lost_records, log.next_seq) == (2, 5)  # records 5 and 6; 3 and 4 are in the checkpoint
    assert list(log.read_from(0)) == []
    assert log.append(records(1, 5)) == 5
    log.close()
    log, report = RecordLog.open(tmp_path, "never", start_seq=5)
    assert (report.truncated_bytes, [seq for seq, _ in log.read_from(5)]) == (0, [5])
    log.close()


def test_a_log_that_starts_after_its_checkpoint_is_cut(tmp_path: Path) -> None:
    """Records between the checkpoint and the log's first segment are missing: what follows
    the hole cannot be pushed again in order, so it is cut and reported."""
    log, _ = RecordLog.open(tmp_path, "never", start_seq=8)
    log.append(records(2, 8))
    log.close()
    log, report = RecordLog.open(tmp_path, "never", start_seq=5)
    assert "does not start at record 5" in report.detail
    assert (report.lost_unknown, log.next_seq, list(log.read_from(0))) == (True, 5, [])
    log.close()


def test_batch_mode_groups_the_writes_of_an_interval_into_one_fsync(tmp_path: Path) -> None:
    flusher = Flusher(delay_s=0.2)
    flusher.start()
    log, _ = RecordLog.open(tmp_path, "batch", flusher)
    for start in range(0, 50, 5):
        log.append(records(5, start))
    wait_for(lambda: flusher.fsyncs or None, timeout=30)
    assert flusher.fsyncs < 10
    flusher.close()
    log.close()


def test_write_atomic_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint.jsonl"
    write_atomic(target, b"one\n")
    write_atomic(target, b"two\n")
    assert target.read_bytes() == b"two\n"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.jsonl"]
