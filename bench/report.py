"""Results out: a table on stdout, JSON in ``bench/results/<timestamp>.json``, the spike plot."""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Sequence

from .results import ScenarioResult

__all__ = ["plot_spike", "print_table", "write_json"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _n(value: float | None, fmt: str = ",.0f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, fmt)


def table_rows(results: Sequence[ScenarioResult]) -> list[list[str]]:
    rows = [["scenario", "receiver", "events", "ev/s", "drain/s", "http ceil", "÷ http",
             "kafka ceil",
             "p50 ms", "p95 ms", "p99 ms", "CPU s/10k", "worker MiB", "sender MiB",
             "missing/dups", "others", "target"]]
    for r in results:
        c = r.completeness
        rss = [_n(max((v for k, v in r.peak_rss_mib.items() if k.startswith(kind)),
                      default=None)) for kind in ("worker", "sender")]
        verdicts = ", ".join({True: "met", False: "MISSED", None: "-"}[t.met] for t in r.targets)
        rows.append([
            r.name, r.receiver.split(" (")[0], _n(r.events), _n(r.per_s), _n(r.drain_per_s),
            _n(r.ceilings.get("http_events_per_s")), _n(r.ceilings.get("ratio_to_http"), ".2f"),
            _n(r.ceilings.get("kafka_per_s")),
            _n(r.latency_ms.get("p50"), ",.1f"), _n(r.latency_ms.get("p95"), ",.1f"),
            _n(r.latency_ms.get("p99"), ",.1f"), _n(r.cpu_s_per_10k, ".2f"), *rss,
            f"{c.get('missing', '-')}/{c.get('duplicates', '-')}",
            _n(r.cpu_s.get("others", float("nan")) / max(r.cpu_s.get("window_s", 0), 1e-9), ".2f"),
            verdicts or "-"])
    return rows


def print_table(results: Sequence[ScenarioResult], markdown: bool = False) -> None:
    """The table (``others``: cores used by processes that are not part of the run — another
    job on the machine — averaged over the measured window), then per scenario its CPU per
    event, idle CPU, worker pace, targets, notes and py-spy top frames."""
    if markdown:
        print(markdown_table(results))
        print()
    _print_text(results)


def _print_text(results: Sequence[ScenarioResult]) -> None:
    rows = table_rows(results)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for k, row in enumerate(rows):
        print("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths))))
        if k == 0:
            print("  ".join("-" * w for w in widths))
    print()
    for r in results:
        cost = ", ".join(f"{name} {1e6 * v / max(r.events, 1):,.0f}"
                         for name, v in r.cpu_s.items()
                         if name not in ("pipeline", "window_s", "machine"))
        if cost:
            window = r.cpu_s.get("window_s", 0)
            busy = r.cpu_s.get("machine", 0) / max(window, 1e-9)
            print(f"  [{r.name}] CPU µs per event: {cost}; machine busy {busy:.2f} of "
                  f"{os.cpu_count()} cores over {window:g} s")
        if "idle_cores" in r.extra:
            idle = ", ".join(f"{k} {v:.2f}" for k, v in r.extra["idle_cores"].items())
            print(f"  [{r.name}] idle (no traffic) CPU, cores: {idle}")
        if "worker_per_s" in r.extra:
            print(f"  [{r.name}] worker stage: every event enriched {r.extra['worker_done_s']:g} s "
                  f"after the first produce ({r.extra['worker_per_s']:,.0f} ev/s)")
        if "stats_tail_s" in r.extra:
            print(f"  [{r.name}] statistics: caught up {r.extra['stats_tail_s']:g} s after the "
                  f"last receipt, using {r.extra['stats_tail_cpu_s']:g} CPU s after it "
                  f"({1e6 * r.extra['stats_tail_cpu_s'] / max(r.events, 1):,.1f} µs per event; "
                  f"not in the window above)")
        ceilings = [(client, prefix) for client, prefix in
                    (("aiohttp", "http"), ("curl", "curl_http"), ("reqwest", "reqwest_http"))
                    if f"{prefix}_requests_per_s" in r.ceilings]
        if ceilings:
            per_event = 1e6 * r.cpu_s.get("sender0", float("nan")) / max(r.events, 1)
            text = "; ".join(
                f"{client} {r.ceilings[f'{prefix}_requests_per_s']:,.0f}/s, "
                f"{r.ceilings.get(f'{prefix}_cpu_us_per_request', float('nan')):.0f} µs CPU per "
                f"request, ratio {r.ceilings.get('ratio_to_' + prefix if client != 'aiohttp' else 'ratio_to_http', float('nan')):.2f}"
                for client, prefix in ceilings)
            print(f"  [{r.name}] bare HTTP ceilings (same receiver, same run): {text}; "
                  f"sender0 {per_event:,.0f} µs CPU per event")
        for t in r.targets:
            print(f"  [{r.name}] {t.describe()}")
        for note in r.notes:
            print(f"  [{r.name}] note: {note}")
        for prof in r.profiles:
            top = "; ".join(f"{share}% {frame}" for share, frame in prof["top_self"][:5])
            print(f"  [{r.name}] py-spy {prof['process']} ({prof['samples']} samples), "
                  f"self: {top}")


def markdown_table(results: Sequence[ScenarioResult]) -> str:
    rows = table_rows(results)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def write_json(results: Sequence[ScenarioResult], machine: dict[str, Any], args: dict[str, Any],
               directory: Path = RESULTS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    doc = {"machine": machine, "args": args, "scenarios": [r.as_dict() for r in results]}
    path.write_text(json.dumps(doc, indent=1, default=_default))
    return path


def _default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and math.isnan(obj):
        return None
    raise TypeError(type(obj).__name__)


def plot_spike(result: ScenarioResult, path: Path) -> Path | None:
    """Throughput (produced and delivered per second) and latency percentiles over time."""
    tl = result.timeline
    if tl is None or not tl.received_per_s:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [i * tl.bucket_s for i in range(len(tl.received_per_s))]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    shown = max([*tl.received_per_s, *tl.enriched_per_s, 1.0]) * 1.4
    peak = max(tl.produced_per_s, default=0.0)
    label = "produced/s" if peak <= shown else f"produced/s (peak {peak:,.0f}, off scale)"
    top.plot(xs, tl.produced_per_s, label=label, color="#999999", drawstyle="steps-post")
    top.set_ylim(0, shown)
    if tl.enriched_per_s:
        top.plot(xs[:len(tl.enriched_per_s)], tl.enriched_per_s, label="enriched/s (worker)",
                 color="#9467bd", drawstyle="steps-post")
    top.plot(xs, tl.received_per_s, label="delivered/s", color="#1f77b4", drawstyle="steps-post")
    top.set_ylabel("events per second")
    top.legend(loc="upper right")
    top.set_title(f"{result.name}: {result.events:,} events, {result.per_s:,.0f} ev/s end to end, "
                  f"receiver {result.receiver}")
    for series, label, colour in ((tl.p50_s, "p50", "#2ca02c"), (tl.p95_s, "p95", "#ff7f0e"),
                                  (tl.p99_s, "p99", "#d62728")):
        bottom.plot(xs, [v * 1000 for v in series], label=label, color=colour)
    bottom.set_ylabel("produce -> receipt, ms (by receipt time)")
    bottom.set_xlabel(f"seconds since the first produce (buckets of {tl.bucket_s:g} s)")
    bottom.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
