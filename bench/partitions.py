"""``scale-partitions``: repartition mode's cost and `partitions scale 4 -> 8` mid-stream.

Four runs of one signed json loop on the fast receiver:

1. ``direct`` burst, 4 partitions: the baseline path (raw topics read by the worker);
2. ``repartition`` burst, 4 partitions: the same events through the re-key stage; the
   difference in worker and broker CPU per event is the hop's cost;
3. ``repartition`` burst, 8 partitions: the throughput after a scale (a pipeline that has
   8 from the start: what a scale leaves behind);
4. ``repartition`` paced at 30 % of run 2's rate, 4 partitions, with `partitions scale 8`
   asked for a quarter of the way in: the extra latency at the cut-over is the worst p99 (per
   second of receipts) from the cut-over's start until 20 s after the new generation serves
   (its standbys take over then) minus the median p99 before the scale was asked for; the
   worst p99 during the build (while the standbys start) is reported beside it.

The headline result is run 4, with the others' figures in ``extra``.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any

from .harness import Options, make_receiver
from .measure import CpuSampler
from .pipeline import Pipeline, loop_decl
from .results import ScenarioResult, Target
from .runner import Setup, execute
from .scenarios import SCENARIOS, _profiles, _receiver, scenario

__all__ = ["scale_partitions"]

log = logging.getLogger(__name__)

REPARTITION = {"partitioning": "repartition"}


def _run(opts: Options, name: str, events: int, worker: dict[str, Any], **setup: Any
         ) -> ScenarioResult:
    kind, label = _receiver(opts)
    receiver = make_receiver(kind, opts.out_dir / name / "receiver")
    in_flight = opts.in_flight or 128
    return execute(opts, Setup(
        name, SCENARIOS["scale-partitions"].title, receiver, label,
        [loop_decl("bench", receiver.url("/hook"), max_in_flight=in_flight)], events,
        _profiles(opts), in_flight, worker=worker, **setup))


def _us_per_event(result: ScenarioResult, prefix: str) -> float:
    cpu = sum(v for k, v in result.cpu_s.items() if k.startswith(prefix))
    return round(cpu / max(result.events, 1) * 1e6, 1)


class _Scaler:
    """Asks for `partitions scale` ``lead_s`` after the stream starts; records when the scale
    was asked for, when its cut-over began and when it was done (wall clock)."""

    def __init__(self, lead_s: float, partitions: int) -> None:
        self.lead_s = lead_s
        self.partitions = partitions
        self.times: dict[str, float] = {}
        self.outcome: dict[str, Any] = {}
        self.error: str | None = None

    def during(self, pipeline: Pipeline, sampler: CpuSampler) -> None:
        threading.Thread(target=self._scale, args=(pipeline,), daemon=True).start()

    def _scale(self, pipeline: Pipeline) -> None:
        from streams.kafka.partitioning import ControlView
        from streams.ops.scaling import ask_scale

        control = ControlView(pipeline.config.kafka, pipeline.topics.partitioning).start()
        try:
            time.sleep(self.lead_s)
            self.times["asked"] = time.time()
            request = ask_scale(control, self.partitions)
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                state = control.state()
                nxt = state.next if state is not None else None
                if nxt is not None and nxt.cut_started_ms and "cut" not in self.times:
                    self.times["cut"] = nxt.cut_started_ms / 1000
                if state is not None and request.id in state.handled:
                    self.times["done"] = time.time()
                    self.outcome = dict(state.last)
                    return
                time.sleep(0.05)
            self.error = "the scale did not finish within 600 s"
        except Exception as exc:  # reported with the result, never raised into the run
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            control.stop()


#: how long after the new generation serves its restart may still show in the latency
AFTER_S = 20.0


def _cut_over_latency(result: ScenarioResult, times: dict[str, float]
                      ) -> dict[str, float | None]:
    """The median p99 before the scale was asked for, and the worst p99 from the cut-over's
    start to ``AFTER_S`` after the new generation served (per-second buckets of receipts)."""
    timeline = result.timeline
    if timeline is None or "cut" not in times or "done" not in times:
        return {}
    start, width = timeline.start, timeline.bucket_s
    before = [p for i, p in enumerate(timeline.p99_s)
              if start + (i + 1) * width <= times["asked"] and p == p]
    around = [p for i, p in enumerate(timeline.p99_s)
              if times["cut"] - width <= start + i * width <= times["done"] + AFTER_S
              and p == p]
    # the build, while every worker's standby starts (its CPU is the build's cost)
    building = [p for i, p in enumerate(timeline.p99_s)
                if times["asked"] <= start + i * width < times["cut"] - width and p == p]
    if not before or not around:
        return {}
    baseline = sorted(before)[len(before) // 2]
    worst = max(around)
    return {"p99_before_s": round(baseline, 3), "p99_worst_at_cut_over_s": round(worst, 3),
            "extra_latency_at_cut_over_s": round(worst - baseline, 3),
            "p99_worst_during_build_s": round(max(building), 3) if building else None,
            "build_s": round(times["cut"] - times["asked"], 2)}


@scenario("scale-partitions", "repartition mode: the re-key hop's cost; partitions scale "
                              "4 -> 8 mid-stream (not in ``all``)")
def scale_partitions(opts: Options) -> ScenarioResult:
    events = opts.pick(opts.events, 60_000, 12_000)
    four, eight = dataclasses.replace(opts, partitions=4), dataclasses.replace(opts, partitions=8)
    direct = _run(four, "scale-partitions-direct-4", events, {})
    before = _run(four, "scale-partitions-repartition-4", events, REPARTITION)
    after = _run(eight, "scale-partitions-repartition-8", events, REPARTITION)
    rate = opts.rate or max(200.0, 0.3 * before.per_s)
    duration_s = events / rate
    scaler = _Scaler(lead_s=duration_s / 4, partitions=8)
    result = _run(four, "scale-partitions", events, REPARTITION, mode="paced",
                  rate_per_s=rate, during=scaler.during)
    us = {f"{kind}_us_per_event_{name}": _us_per_event(run, kind)
          for name, run in (("direct", direct), ("repartition", before))
          for kind in ("worker", "broker")}
    hop_us = (us["worker_us_per_event_repartition"] - us["worker_us_per_event_direct"]
              + us["broker_us_per_event_repartition"] - us["broker_us_per_event_direct"])
    cut_over = _cut_over_latency(result, scaler.times)
    figures: dict[str, Any] = {
        "direct_4_per_s": round(direct.per_s, 1), "repartition_4_per_s": round(before.per_s, 1),
        "repartition_8_per_s": round(after.per_s, 1), "paced_per_s": round(rate, 1),
        **us, "hop_us_per_event": round(hop_us, 1),
        "others_cpu_s": {"direct": direct.cpu_s.get("others"),
                         "repartition_4": before.cpu_s.get("others"),
                         "repartition_8": after.cpu_s.get("others"),
                         "scale": result.cpu_s.get("others")},
        "scale_outcome": scaler.outcome, "scale_error": scaler.error,
        **cut_over,
    }
    result.extra.update(figures)
    if scaler.error:
        result.notes.append(f"the scale failed: {scaler.error}")
    extra = cut_over.get("extra_latency_at_cut_over_s")
    result.targets.append(Target("extra p99 latency at the cut-over", 5.0, "<=",
                                 extra if extra is not None else float("nan"), " s"))
    result.targets.append(Target("events lost across the scale", 0, "<=",
                                 float(result.completeness.get("missing", float("nan")))))
    return result
