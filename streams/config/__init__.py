"""Configuration: the typed, frozen settings, loading them from YAML + environment, logging."""
