"""``python -m bench [all | NAME ...] [--scenario NAME] [--events N] ...`` (``--help``)."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
import traceback
from pathlib import Path

from .environment import DEFAULT_PORT, BenchBroker, machine_info
from .harness import Options, parse_settings
from .receivers import nginx_binary
from .report import plot_spike, print_table, write_json
from .results import ScenarioResult
from .scenarios import ORDER, SCENARIOS

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of the Feedback Loops pipeline on a real broker, real processes "
                    "and a real HTTP receiver (see docs/benchmarks.md).",
        epilog="scenarios: " + ", ".join(SCENARIOS) + " (all: every one but scale-out)")
    p.add_argument("names", nargs="*", metavar="SCENARIO", help="scenarios to run (default: all)")
    p.add_argument("--scenario", action="append", default=[], metavar="NAME",
                   help="a scenario to run (repeatable)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--smoke", action="store_true",
                   help="small default sizes: a quick check that every scenario works, not a "
                        "measurement")
    p.add_argument("--events", type=int, help="events per scenario (default: per scenario)")
    p.add_argument("--profiles", type=int,
                   help="profiles (default 10,000; memory scenario 1,000,000)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--senders", type=int, default=1, help="sender processes (default 1)")
    p.add_argument("--partitions", type=int, default=8, help="partitions per topic (default 8)")
    p.add_argument("--in-flight", type=int, help="max_in_flight per loop (default per scenario)")
    p.add_argument("--rate", type=float, help="latency scenario: events/s (default: half of "
                                              "single's rate in the same run, else 3000)")
    p.add_argument("--duration", type=float, help="latency scenario: seconds (default 30)")
    p.add_argument("--replay-rate", type=float,
                   help="replay scenario: the replay's --rate (default: none, as fast as the "
                        "replay lane goes)")
    p.add_argument("--receiver", choices=("nginx", "aiohttp"),
                   help="force the receiver of every scenario")
    p.add_argument("--delay-ms", type=float, default=20.0, help="slow receiver delay (20)")
    p.add_argument("--batch-size", type=int, default=100, help="json-batch max_events (100)")
    p.add_argument("--batch-wait-ms", type=int, default=200, help="json-batch max_wait_ms (200)")
    p.add_argument("--hang-timeout", type=float, default=60.0,
                   help="isolation: timeout_s of the hanging loop (60; issue 9.1: a long "
                        "timeout must not pause the healthy loops either; the maximum is 120)")
    p.add_argument("--join-lead", type=float, default=2.5,
                   help="scale-out: seconds from starting the extra worker to the spike (2.5)")
    p.add_argument("--set", action="append", default=[], dest="settings", metavar="KEY=VALUE",
                   help="a pipeline setting for every scenario, e.g. worker.fetch_interval_ms=100"
                        " (YAML value; repeatable): measure a setting without editing code")
    p.add_argument("--profile", action="store_true", help="py-spy the worker and sender")
    p.add_argument("--profile-s", type=float, default=10.0, help="py-spy duration (10 s)")
    p.add_argument("--peers", type=Path, metavar="DIR",
                   help="the folder holding the peers' builds (aiven-http-connector-0.9.0/); "
                        "default $BENCH_PEERS_DIR, else the nearest shared/peers above the "
                        "repository")
    p.add_argument("--bootstrap", help="use this broker instead of the benchmark's own")
    p.add_argument("--kafka-port", type=int, default=DEFAULT_PORT,
                   help=f"port of the benchmark's own broker ({DEFAULT_PORT}; BENCH_KAFKA_PORT)")
    p.add_argument("--stall", type=float, default=30.0,
                   help="give up when no delivery arrives for this long (30 s)")
    p.add_argument("--keep-topics", action="store_true", help="do not delete scenario topics")
    p.add_argument("--no-warm-up", action="store_true",
                   help="skip the broker warm-up (a discarded 60,000-event single run first: a "
                        "freshly started JVM broker costs 2-3x the CPU per event until its JIT "
                        "has compiled the hot paths)")
    p.add_argument("--plot", type=Path, default=ROOT / "docs" / "benchmarks-spike.png",
                   help="where the spike plot goes (docs/benchmarks-spike.png)")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    p.add_argument("--results-dir", type=Path, help="JSON results (default bench/results/)")
    return p.parse_args(argv)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def selected(args: argparse.Namespace) -> list[str]:
    names = [*args.names, *args.scenario] or ["all"]
    if "all" in names:
        names = [*ORDER, *(n for n in names if n != "all")]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"bench: unknown scenario {unknown[0]!r} (choose from: "
                         f"{', '.join(SCENARIOS)}, all)")
    order = [*ORDER, *(n for n in SCENARIOS if n not in ORDER)]
    return [n for n in order if n in names]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = parse_settings(args.settings)
    except ValueError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    if args.list:
        for name in [*ORDER, *(n for n in SCENARIOS if n not in ORDER)]:
            extra = "" if name in ORDER else "  (not in all)"
            print(f"{name:14} {SCENARIOS[name].title}{extra}")
        return 0
    names = selected(args)
    logging.basicConfig(level=logging.INFO, format="[bench %(asctime)s] %(message)s",
                        datefmt="%H:%M:%S")
    if nginx_binary() is None and args.receiver != "aiohttp":
        print("bench: nginx is not installed (apt-get install -y nginx-light, or `make bench`)",
              file=sys.stderr)
        return 2
    # SIGTERM (make interrupted, a CI timeout) unwinds like Ctrl-C, so every process the
    # benchmark started is stopped by the finally blocks on the way out
    signal.signal(signal.SIGTERM, _interrupt)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    broker = BenchBroker(args.kafka_port, args.bootstrap)
    log.info("broker %s", broker.bootstrap)
    broker.start()
    machine = machine_info(broker)
    results: list[ScenarioResult] = []
    earlier: dict[str, ScenarioResult] = {}

    def options(**override: object) -> Options:
        fields: dict[str, object] = dict(
            bootstrap=broker.bootstrap, out_dir=ROOT / "var" / "bench" / run_id,
            broker_pid=broker.pid, events=args.events, profiles=args.profiles,
            workers=args.workers, senders=args.senders, partitions=args.partitions,
            in_flight=args.in_flight, rate=args.rate, duration_s=args.duration,
            replay_rate=args.replay_rate,
            receiver=args.receiver, delay_ms=args.delay_ms, batch_size=args.batch_size,
            batch_wait_ms=args.batch_wait_ms, hang_timeout_s=args.hang_timeout,
            join_lead_s=args.join_lead, profile=args.profile, profile_s=args.profile_s,
            keep_topics=args.keep_topics, smoke=args.smoke, stall_s=args.stall, earlier=earlier,
            peers_dir=args.peers, settings=settings)
        fields.update(override)
        return Options(**fields)  # type: ignore[arg-type]

    try:
        if not args.no_warm_up:
            log.info("warm-up: a discarded single-event run, so the broker's JIT is warm")
            started = time.monotonic()
            try:
                SCENARIOS["single"].run(options(
                    events=60000, profiles=2000, smoke=True, profile=False, keep_topics=False,
                    out_dir=ROOT / "var" / "bench" / run_id / "warm-up", earlier={}))
            except Exception as exc:  # the scenarios still run, on a colder broker
                log.warning("warm-up failed (%s: %s); measuring anyway", type(exc).__name__, exc)
            log.info("warm-up done in %.0f s", time.monotonic() - started)
        for name in names:
            opts = options()
            log.info("scenario %s: %s", name, SCENARIOS[name].title)
            started = time.monotonic()
            try:
                result = SCENARIOS[name].run(opts)
            except Exception as exc:  # one broken scenario must not lose the others' results
                traceback.print_exc()
                result = ScenarioResult(name, SCENARIOS[name].title, "-", 0, 0, args.workers,
                                        args.senders, args.partitions, 0)
                result.notes.append(f"failed: {type(exc).__name__}: {exc}")
            result.extra["scenario_wall_s"] = round(time.monotonic() - started, 1)
            results.append(result)
            earlier[name] = result
            log.info("scenario %s: %.0f ev/s, p99 %s ms", name, result.per_s,
                     result.latency_ms.get("p99", "-"))
    except KeyboardInterrupt:
        log.warning("interrupted; reporting what finished")
    finally:
        broker.stop()
    print()
    print_table(results, markdown=args.markdown)
    path = write_json(results, machine, {k: str(v) for k, v in vars(args).items()},
                      args.results_dir or ROOT / "bench" / "results")
    print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    if not args.no_plot:
        spike = next((r for r in results if r.name == "single"), None) or next(
            (r for r in results if r.name == "backlog"), None)
        if spike is not None and plot_spike(spike, args.plot):
            print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
