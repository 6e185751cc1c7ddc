"""Kafka adapters: clients, topics, the producer, compacted-topic views, the loop store, records."""
