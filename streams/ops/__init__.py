"""Operator tools: bulk loads, re-drive of dead letters, fl.invalid listing and replay."""
