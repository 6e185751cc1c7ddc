"""The HTTP side of a process: health, readiness, metrics and the control API (no Faust)."""
