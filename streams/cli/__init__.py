"""The ``feedbackloops`` command line: the product's commands, grouped by what a user does."""
from streams.cli.main import main

__all__ = ["main"]
