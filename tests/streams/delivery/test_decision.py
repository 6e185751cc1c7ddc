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
    assert admit(held=40, queued=8, others_busy=True, per_call_s=100.0, **BASE) == "send"


def test_a_fast_loop_alone_may_queue_far_beyond_its_cap() -> None:
    # 10,000/s at 5 ms per call: 3,000 queued drain in 0.5 s
    assert admit(held=3032, queued=3000, others_busy=False, per_call_s=0.0005,
                 **BASE) == "send"


def test_no_slow_loop_holds_more_than_half_the_started_work_while_others_wait() -> None:
    # a call unanswered for 0.1 s with 32 slots: 2016 queued need 6.3 s
    slow = 0.1 / 32
    assert admit(held=2048, queued=2016, others_busy=True, per_call_s=slow, **BASE) == "defer"
    assert admit(held=2047, queued=2015, others_busy=True, per_call_s=slow, **BASE) == "send"
    assert admit(held=2048, queued=2016, others_busy=False, per_call_s=slow, **BASE) == "send"


def test_a_fast_loop_over_half_is_not_deferred() -> None:
    # 2 ms calls, 32 slots: 2016 queued drain in 0.13 s; reading pauses briefly instead
    assert admit(held=2048, queued=2016, others_busy=True, per_call_s=0.002 / 32,
                 **BASE) == "send"


def test_a_slow_or_hanging_loop_defers_once_its_queue_outlasts_defer_after_s() -> None:
    # a call unanswered for 10 s with 32 slots: each queued delivery adds ~0.31 s
    per_call_s = 10 / 32
    assert admit(held=128, queued=96, others_busy=False, per_call_s=per_call_s, **BASE) == "send"
    assert admit(held=129, queued=97, others_busy=False, per_call_s=per_call_s, **BASE) == "defer"
