"""The benchmark of the Feedback Loops pipeline: ``python -m bench`` / ``make bench``.

Every claim about speed is a command anyone can rerun (docs/benchmarks.md). Modules:
``generator`` (raw events and delivery records, produced with confluent-kafka), ``receivers``
(nginx, aiohttp, tarpit), ``ceilings`` (bare HTTP and bare Kafka limits), ``pipeline`` (one
scenario's config, topics and processes), ``runner`` (the measured flow), ``scenarios`` (the
issue's scenarios), ``measure`` (CPU, RSS, latency, completeness), ``profiling`` (py-spy),
``report`` (table, JSON, plot), ``environment`` (broker, machine).

Nothing in the pipeline imports this package. This file imports nothing, so the receiver and
ceiling child processes (``python -m bench.receivers``, ``python -m bench.ceilings``) start
light; the public surface is the command line.
"""
__all__: list[str] = []
