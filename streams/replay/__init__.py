"""Replays: a time window of the raw history re-delivered to one loop, in its own lane.

``book`` (``fl.replays``: requests, progress, cancels, counts), ``requests`` (the checks before
a replay starts), ``runner`` (reads, enriches, routes; resumable), ``operations`` (what the API
and the CLI call), ``main`` (the ``feedbackloops replayer`` process).
"""

__all__ = ["book", "main", "operations", "requests", "runner"]
