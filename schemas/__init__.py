"""JSON Schema contracts for raw events, profiles, tags and loops, and the records mirroring
them. Imports nothing of ours."""
__all__: list[str] = []
