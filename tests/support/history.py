"""Shared set-up of the replay and export tests: a live run whose deliveries a replay or an
export of its window is compared with (direct mode, or repartition mode after a scale)."""
from __future__ import annotations

import json
import time
from typing import Any, Callable

from streams.demo.events import DemoWorld, topic_key

from .api import Api
from .processes import Project
from .receiver import Call, Receiver

__all__ = ["TOKEN", "ReplayWorld", "export_window", "header", "replayed"]

TOKEN = "replay-test-token-0123456789"


def replayed(calls: list[Call]) -> list[Call]:
    """The calls marked as a replay's (``webhook-replay``)."""
    return [c for c in calls if "webhook-replay" in {k.lower() for k in c.headers}]


def header(call: Call, name: str) -> str:
    return next(v for k, v in call.headers.items() if k.lower() == name)


def export_window(project: Project, *args: str) -> dict[str, Any]:
    """Run ``feedbackloops export --quiet ARGS`` to its end; its JSON summary."""
    proc = project.start("export", "--quiet", *args, name="export")
    assert proc.proc.wait(180) == 0, proc.log()
    text = proc.log()
    return json.loads(text[text.index("{"):])


class ReplayWorld:
    """Two trusted loops (A: opens and clicks, B: opens), a worker, a sender, a replayer and
    three batches of events: before, inside and after the replay window.

    ``worker`` overrides the worker's settings (``partitioning: repartition``); ``scale_to``
    runs ``feedbackloops partitions scale`` to that count right after the window's events are
    sent: the first generation enriches them live, the second serves when they are replayed
    or exported. ``ghosts`` events of the window name a profile that was never loaded
    (delivered with ``profile_known`` false)."""

    def __init__(self, project_factory: Callable[..., Project], receiver: Receiver,
                 per_batch: int = 60, worker: dict[str, Any] | None = None,
                 scale_to: int | None = None, ghosts: int = 0) -> None:
        self.receiver = receiver
        self.project = project_factory(
            loops=[{"id": "loop-a", "url": receiver.url("/a"), "events": ["open", "click"],
                    "trusted": True, "rate_per_s": 100000, "max_in_flight": 64},
                   {"id": "loop-b", "url": receiver.url("/b"), "events": ["open"],
                    "trusted": True, "rate_per_s": 100000, "max_in_flight": 64}],
            api={"tokens": [TOKEN]},
            replay={"metrics_port": 0, "max_ahead": 100},
            **({"worker": worker} if worker else {}))
        p = self.project
        world = self.world = DemoWorld(profiles=30, seed=9)
        for profile in world.profiles:
            p.produce(p.topics.ref_profiles, profile["id"], profile)
        for mailing in world.mailings:
            p.produce(p.topics.ref_tags, mailing["id"], mailing)
        p.flush()
        self.worker = p.start("worker", "-l", "info")
        p.start("sender", name="sender")
        self.api = Api.of(self.worker, TOKEN, timeout_s=120)
        batches = []
        marks = []
        for n in range(3):
            marks.append(int(time.time() * 1000))
            events = [world.event("open" if i % 3 else "click") for i in range(per_batch)]
            if n == 1:
                events += [world.event("open", profile={
                    **world.profiles[i], "id": f"ghost{i}", "email": f"ghost{i}@example.org"})
                    for i in range(ghosts)]
            for event in events:
                p.produce(p.topics.raw[topic_key(event)], event["profile"], event)
            p.flush()
            batches.append(events)
            if n == 1 and scale_to is not None:
                scale = p.start("partitions", "scale", str(scale_to), name="scale")
                assert scale.proc.wait(300) == 0, scale.log()
                assert '"outcome": "done"' in scale.log(), scale.log()
            time.sleep(1.0)
        self.since_ms, self.until_ms = marks[1], marks[2]
        self.window = batches[1]
        total = sum(len(b) for b in batches)
        opens = sum(1 for b in batches for e in b if e["type"] == "open")
        receiver.wait_for(lambda cs: len(cs) >= total + opens, timeout_s=120,
                          what="the live deliveries")
        self.live = {header(c, "webhook-id"): c for c in receiver.calls_to("/a")}
        self.replayer = p.start("replayer", name="replayer")

    def start(self, *options: str, loop: str = "loop-a") -> dict[str, Any]:
        proc = self.project.start("replay", "start", loop, "--since", str(self.since_ms),
                                  "--until", str(self.until_ms), *options, name="cli")
        assert proc.proc.wait(120) == 0, proc.log()
        text = proc.log()
        return json.loads(text[text.index("{"):])

    def replayed_to(self, path: str) -> list[Call]:
        return replayed(self.receiver.calls_to(path))
