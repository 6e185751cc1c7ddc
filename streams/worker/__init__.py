"""The worker: the Faust app and its agents (validate, keep profiles, enrich, route)."""
