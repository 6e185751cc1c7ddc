"""Everything that talks HTTP to customers: client, encodings, signing, retry policy, rate
limiting, circuit breaker, SSRF guard, ownership validation. No Faust, no Kafka."""
__all__: list[str] = []
