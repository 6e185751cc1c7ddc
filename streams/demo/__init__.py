"""The demo behind ``make run``: a receiver that prints calls, a producer of realistic events,
and a supervisor that starts Kafka, the worker, the receiver and the producer together."""
