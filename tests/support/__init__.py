"""Test helpers: the real broker, worker processes, recording HTTP receivers."""
