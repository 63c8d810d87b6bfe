"""The stream's account of its records (``streaminfer.client.outbox``) through drops and
reconnects: frames in doubt found received, resent, and acknowledged records a restarted
server no longer counts, reported as lost."""

from __future__ import annotations

import pytest

from streaminfer.client.outbox import BufferFull, Outbox


def frame(n: int, start: int = 0) -> list[dict[str, int]]:
    return [{"i": start + k} for k in range(n)]


def sent(outbox: Outbox, *sizes: int) -> None:
    for n in sizes:
        outbox.add(frame(n), drop=False)
        outbox.take()


def test_frames_in_doubt_the_server_received_count_as_delivered_and_the_rest_are_resent() -> None:
    outbox = Outbox(100)
    outbox.reconcile(received=10)  # the session already held 10 records from before
    sent(outbox, 4, 4, 4)
    outbox.ack(pushed=4, dropped=0)  # the first frame acknowledged, then the connection drops
    outbox.add(frame(2, 100), drop=False)  # pushed while disconnected
    outbox.reconcile(received=10 + 4 + 6)  # the server had the second frame and half the third
    stats = outbox.stats
    assert (stats.pushed, stats.delivered_in_doubt, stats.resent, stats.lost) == (4, 6, 2, 0)
    assert stats.buffered == 2 + 2 and stats.connects == 2
    assert outbox.take() == frame(4)[2:]  # the rest of the third frame goes first, then the new one
    assert outbox.take() == frame(2, 100)
    outbox.ack(pushed=2, dropped=0)
    outbox.ack(pushed=1, dropped=1)
    assert outbox.idle() and outbox.stats.buffered == 0
    assert (outbox.stats.pushed, outbox.stats.dropped_by_server) == (7, 1)


def test_acknowledged_records_a_restarted_server_no_longer_counts_are_reported_lost() -> None:
    outbox = Outbox(100)
    outbox.reconcile(received=0)
    sent(outbox, 5, 5)
    outbox.ack(pushed=5, dropped=0)
    outbox.ack(pushed=5, dropped=0)
    sent(outbox, 3)
    outbox.reconcile(received=7)  # three acknowledged records were not on disk
    assert (outbox.stats.lost, outbox.stats.resent, outbox.stats.delivered_in_doubt) == (3, 3, 0)


@pytest.mark.parametrize("drop", [True, False])
def test_the_buffer_holds_pending_and_unacknowledged_records_up_to_its_capacity(drop: bool) -> None:
    outbox = Outbox(10)
    outbox.reconcile(received=0)
    sent(outbox, 6)  # in flight: still held
    assert outbox.add(frame(4), drop=drop)
    if drop:
        assert not outbox.add(frame(1), drop=True)
        assert outbox.stats.dropped_by_client == 1
    else:
        with pytest.raises(BufferFull):
            outbox.add(frame(1), drop=False)
    outbox.ack(pushed=6, dropped=0)
    assert outbox.add(frame(6), drop=drop)
