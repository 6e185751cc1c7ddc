"""Per-loop lanes: at most the loop's cap of calls at a time, each job answered once, workers
only while there is work, no loop takes the whole process, the pace of a hanging loop."""
from __future__ import annotations

import asyncio

from senders.engine import Dispatcher, Outcome
from senders.lanes import Job, Lanes
from schemas.loop import Loop
from senders.testing import FakeClock, RecordedCall, RecordingClient, Reply, make_loop


def _loop(loop_id: str, cap: int) -> Loop:
    return make_loop(id=loop_id, url=f"https://{loop_id}.example/hook", max_in_flight=cap,
                     rate_per_s=100_000)


def _job(n: int) -> Job:
    return Job(f"wh-{n}", [{"n": n}], 1, 0.0, n)


async def test_a_lane_runs_at_most_its_cap_and_answers_every_job_once() -> None:
    release = asyncio.Event()

    async def slow(call: RecordedCall) -> Reply:
        await release.wait()
        return 204

    client = RecordingClient(handler=slow)
    done: list[tuple[str, int, str]] = []
    lanes = Lanes(Dispatcher(client), lambda loop, job, o: done.append((loop.id, job.context, o.kind)))
    loop = _loop("a", 3)
    for n in range(10):
        lanes.submit(loop, _job(n))
    await asyncio.sleep(0.05)
    assert client.in_flight == 3 and lanes.in_flight == 3 and lanes.queued("a") == 7
    assert lanes.held == 10 and lanes.busy == 1
    release.set()
    while len(done) < 10:
        await asyncio.sleep(0.01)
    assert sorted(n for _, n, _ in done) == list(range(10)) and client.max_in_flight == 3
    await asyncio.sleep(0.01)
    assert lanes.held == 0 and lanes.busy == 0 and not lanes.tasks, "no idle workers left"


async def test_a_hanging_loop_leaves_connections_for_the_others() -> None:
    hang = asyncio.Event()

    async def answer(call: RecordedCall) -> Reply:
        if "hang" in call.url:
            await hang.wait()
        return 204

    client = RecordingClient(handler=answer)
    done: list[str] = []
    lanes = Lanes(Dispatcher(client), lambda loop, job, o: done.append(loop.id),
                  process_max_in_flight=8)
    for n in range(50):
        lanes.submit(_loop("hang", 100), _job(n))
    await asyncio.sleep(0.05)
    assert lanes.in_flight == 4, "never more than half of the process's calls"
    for n in range(20):
        lanes.submit(_loop("ok", 100), _job(n))
    while done.count("ok") < 20:
        await asyncio.sleep(0.01)
    assert "hang" not in done
    hang.set()
    await lanes.close()


async def test_the_pace_of_a_loop_counts_its_oldest_unanswered_call() -> None:
    clock = FakeClock()
    never = asyncio.Event()

    async def hangs(call: RecordedCall) -> Reply:
        await never.wait()
        return 204

    outcomes: list[Outcome] = []
    lanes = Lanes(Dispatcher(RecordingClient(handler=hangs), clock=clock),
                  lambda loop, job, o: outcomes.append(o), clock=clock)
    loop = _loop("slow", 4)
    for n in range(10):
        lanes.submit(loop, _job(n))
    await asyncio.sleep(0.01)
    assert lanes.per_call_s("slow") == 1e-5, "nothing answered, nothing old yet: 1 / rate"
    await clock.advance(8.0)
    assert lanes.per_call_s("slow") == 2.0, "a call unanswered for 8 s, 4 slots"
    assert lanes.lane_held("slow") == 10 and lanes.queued("slow") == 6
    await lanes.close()
    assert outcomes == []


async def test_a_loop_never_answered_reports_how_long_its_oldest_call_is_out() -> None:
    clock = FakeClock()
    answer = asyncio.Event()

    async def waits(call: RecordedCall) -> Reply:
        await answer.wait()
        return 204

    lanes = Lanes(Dispatcher(RecordingClient(handler=waits), clock=clock),
                  lambda loop, job, o: None, clock=clock)
    assert lanes.unanswered_s("a") is None
    lanes.submit(_loop("a", 2), _job(1))
    await asyncio.sleep(0.01)
    await clock.advance(3.0)
    assert lanes.unanswered_s("a") == 3.0
    answer.set()
    await asyncio.sleep(0.01)
    lanes.submit(_loop("a", 2), _job(2))
    await asyncio.sleep(0.01)
    assert lanes.unanswered_s("a") is None, "answered once: its pace is known"
    await lanes.close()
