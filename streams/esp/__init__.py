"""ESP reports in the pipeline.

- :mod:`.ingest`: putting raw reports on ``fl.esp.reports`` (CLI, API);
- :mod:`.reports`: the worker's handler: parse, then map; events, profile actions, parked
  findings (:mod:`.events` builds the documents, :mod:`.parked` the ``fl.esp.unmapped`` records);
- :mod:`.softbounces`: the soft-bounce limit, counted in the enrich stage;
- :mod:`.unsubscribe`: RFC 8058 one-click unsubscribe.
"""
from __future__ import annotations
