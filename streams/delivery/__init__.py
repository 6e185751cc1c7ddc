"""The sender stage: a confluent-kafka consumer group on ``fl.deliveries`` and the retry tiers,
fanning out to :mod:`senders` with per-partition ordered commits."""
