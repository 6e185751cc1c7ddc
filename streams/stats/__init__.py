"""Statistics: windowed counts of what the pipeline did, from the topics it writes."""
