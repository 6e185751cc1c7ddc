"""What the CLI and the API share about `partitions scale`: asking, cancelling, describing.

The work itself is the coordinator's (:mod:`streams.ops.partitions`, inside the workers);
these functions only write requests to ``fl.partitioning`` and read its state, so any process
with Kafka access can ask and watch, and a command that dies takes nothing with it.
"""
from __future__ import annotations

import time
from typing import Any

from streams.errors import InputError
from streams.kafka.generations import Request, ScaleState
from streams.kafka.partitioning import ControlView

__all__ = ["MAX_PARTITIONS", "ask_cancel", "ask_scale", "describe", "outcome_of", "wait_handled"]

#: more partitions than this per generation is refused (each costs broker memory and fetches)
MAX_PARTITIONS = 1024


def _serving(control: ControlView) -> ScaleState:
    state = control.state()
    if state is None:
        raise InputError("partitions", "no worker has started in repartition mode yet "
                         "(worker.partitioning: repartition)")
    return state


def ask_scale(control: ControlView, partitions: int) -> Request:
    """Ask the coordinator for a new generation with ``partitions`` (InputError if it cannot
    be done now)."""
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise InputError("partitions", f"must be 1..{MAX_PARTITIONS}, got {partitions}")
    state = _serving(control)
    if state.next is not None:
        raise InputError("partitions", f"a scale to {state.next.partitions} partitions is "
                         f"already {state.next.phase}; wait for it or cancel it")
    waiting = control.request()
    if waiting is not None and waiting.id not in state.handled:
        raise InputError("partitions", f"a scale to {waiting.partitions} partitions was asked "
                         "for and waits for the workers' coordinator")
    if partitions == state.partitions:
        raise InputError("partitions", f"generation {state.serving} already has "
                         f"{partitions} partitions")
    return control.request_scale(partitions)


def ask_cancel(control: ControlView) -> Request:
    """Cancel the running scale; only possible before its cut-over."""
    state = _serving(control)
    if state.next is None:
        raise InputError("partitions", "no scale is running")
    if state.next.phase != "building":
        raise InputError("partitions", f"the scale to {state.next.partitions} partitions is "
                         f"past its cut-over ({state.next.phase}); it cannot be cancelled")
    return control.request_cancel(state.next.request_id)


def describe(state: ScaleState | None) -> dict[str, Any]:
    """The state as the API and `partitions status` show it."""
    if state is None:
        return {"mode": "repartition", "serving": None}
    out: dict[str, Any] = {"mode": "repartition", "generation": state.serving,
                           "partitions": state.partitions, "scaling": None,
                           "last": state.last or None}
    nxt = state.next
    if nxt is not None:
        out["scaling"] = {"request": nxt.request_id, "partitions": nxt.partitions,
                          "generation": nxt.generation, "phase": nxt.phase,
                          "progress": round(nxt.progress, 4), "copied": nxt.copied,
                          "to_copy": nxt.copy_total, "started_ms": nxt.started_ms,
                          "cancellable": nxt.phase == "building"}
    return out


def outcome_of(state: ScaleState | None, request_id: str) -> dict[str, Any] | None:
    """The outcome of request ``request_id`` once the coordinator handled it, else None."""
    if state is None or request_id not in state.handled:
        return None
    if state.last.get("request") == request_id:
        return dict(state.last)
    return {"request": request_id, "outcome": "handled"}


def wait_handled(control: ControlView, request_id: str, timeout_s: float | None,
                 on_state: Any = None) -> dict[str, Any] | None:
    """Follow the state until ``request_id`` is handled (its outcome) or ``timeout_s``
    passed (None); ``on_state(state)`` is called on every change."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    seen = -1
    while deadline is None or time.monotonic() < deadline:
        if control.version != seen:
            seen = control.version
            state = control.state()
            if on_state is not None:
                on_state(state)
            outcome = outcome_of(state, request_id)
            if outcome is not None:
                return outcome
        time.sleep(0.1)
    return None
