"""ESP reports in the pipeline: ingesting raw reports and turning them into raw events."""
