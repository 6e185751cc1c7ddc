"""The worker's Faust monitor keeps partition offsets (for fl_consumer_lag), not per-event
statistics."""
from __future__ import annotations

from pathlib import Path

from faust.types import TP

from streams.config.loading import parse_config
from streams.worker.app import build_app
from streams.worker.monitor import LagMonitor


class Message:
    time_in = None


def test_the_worker_app_uses_the_lag_monitor(tmp_path: Path) -> None:
    app = build_app(parse_config({"worker": {"data_dir": str(tmp_path / "w"),
                                             "store": "memory"}}))
    assert isinstance(app.monitor, LagMonitor)


def test_per_event_hooks_keep_nothing_but_offsets_are_kept() -> None:
    monitor = LagMonitor()
    tp = TP("fl.raw.opens", 3)
    message = Message()
    for _ in range(3):
        monitor.on_message_in(tp, 7, message)
        state = monitor.on_stream_event_in(tp, 7, object(), object())
        monitor.on_stream_event_out(tp, 7, object(), object(), state)
        monitor.on_message_out(tp, 7, message)
    assert (monitor.messages_received_total, monitor.events_total, monitor.messages_active) \
        == (0, 0, 0)
    assert message.time_in is None and not monitor.tp_read_offsets
    monitor.track_tp_end_offset(tp, 120)
    monitor.on_tp_commit({tp: 100})
    assert monitor.tp_end_offsets[tp] == 120
    assert monitor.tp_committed_offsets[tp] == 100
