"""Pure joins and routing: raw event + profile + tags -> enriched event -> matching loops.

No Kafka, no HTTP, no Faust: every function here is unit-testable with plain data.
"""
__all__: list[str] = []
