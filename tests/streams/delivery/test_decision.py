"""The delivery decision: dead letter for undeliverable loops; admit or defer by lane figures."""
from __future__ import annotations

from typing import Any

import pytest

from senders.testing import make_loop
from streams.delivery.decision import admit, undeliverable

PROVEN = {"file_name": "feedbackloop-x.txt", "content": "x", "validated_at": 1.0,
          "validated_url": "https://h.example/x", "method": "file"}


@pytest.mark.parametrize("changes, reason", [
    (None, "loop deleted"),
    ({"status": "disabled", "disabled_reason": "410"}, "loop disabled: 410"),
    ({"status": "disabled"}, "loop disabled: by its owner"),
    ({"validation": {**PROVEN, "validated_at": None, "validated_url": None}},
     "loop URL ownership not validated"),
    ({"url": "https://other.example/"}, "loop URL ownership not validated"),
    ({}, None),
])
def test_undeliverable(changes: dict[str, Any] | None, reason: str | None) -> None:
    loop = None if changes is None else make_loop(
        **{"url": "https://h.example/x", "validation": PROVEN, **changes})
    assert undeliverable(loop) == reason


BASE = dict(capacity=32, max_active=4096, defer_after_s=30.0)


def test_a_short_queue_always_sends() -> None:
    assert admit(held=40, queued=8, others_busy=True, per_call_s=100.0, oldest_call_s=100.0,
                 **BASE) == "send"


def test_a_fast_loop_alone_may_queue_far_beyond_its_cap() -> None:
    # 10,000/s at 5 ms per call: 3,000 queued drain in 0.5 s
    assert admit(held=3032, queued=3000, others_busy=False, per_call_s=0.0005, oldest_call_s=0.005,
                 **BASE) == "send"


def test_no_stalled_loop_holds_more_than_half_the_started_work_while_others_wait() -> None:
    # a call unanswered for 1.5 s with 256 slots: 2016 queued need 11.8 s (under
    # defer_after_s: only the fair share defers them)
    wide = {**BASE, "capacity": 256}
    stalled = dict(per_call_s=1.5 / 256, oldest_call_s=1.5)
    assert admit(held=2048, queued=2016, others_busy=True, **stalled, **wide) == "defer"
    assert admit(held=2047, queued=2015, others_busy=True, **stalled, **wide) == "send"
    assert admit(held=2048, queued=2016, others_busy=False, **stalled, **wide) == "send"


def test_a_fast_loop_over_half_is_not_deferred() -> None:
    # 2 ms calls, 32 slots: 2016 queued drain in 0.13 s; reading pauses briefly instead
    assert admit(held=2048, queued=2016, others_busy=True, per_call_s=0.002 / 32,
                 oldest_call_s=0.002, **BASE) == "send"


def test_a_healthy_loop_on_a_starved_machine_is_not_deferred_for_fair_share() -> None:
    # calls answered in 60 ms (a starved machine), 32 slots: 2016 queued need 3.8 s to drain,
    # more than FAIR_WAIT_S; deferring them would cost at least the 5 s retry tier (a 4 s gap
    # in the isolation test), holding them costs nothing but a moment's pause in reading
    assert admit(held=2048, queued=2016, others_busy=True, per_call_s=0.06 / 32,
                 oldest_call_s=0.06, **BASE) == "send"
    # a queue of a loop whose oldest call has been out longer than STALLED_S is deferred (256
    # slots: 9.5 s to drain, under defer_after_s, so it is the fair share that defers it)
    assert admit(held=2048, queued=2016, others_busy=True, per_call_s=1.2 / 256,
                 oldest_call_s=1.2, **{**BASE, "capacity": 256}) == "defer"


def test_a_slow_or_hanging_loop_defers_once_its_queue_outlasts_defer_after_s() -> None:
    # a call unanswered for 10 s with 32 slots: each queued delivery adds ~0.31 s
    per_call_s = 10 / 32
    assert admit(held=128, queued=96, others_busy=False, per_call_s=per_call_s,
                 oldest_call_s=10.0, **BASE) == "send"
    assert admit(held=129, queued=97, others_busy=False, per_call_s=per_call_s,
                 oldest_call_s=10.0, **BASE) == "defer"
