"""Composition root: the Faust app, topics, agents, CLI commands and web views.

Nothing imports ``streams``; it imports ``enrichers``, ``senders`` and ``schemas``.
"""
__all__: list[str] = []
