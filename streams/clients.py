"""Kafka client settings derived from the configuration, for confluent-kafka and for Faust."""
from __future__ import annotations

from typing import Any

from .settings import KafkaConfig

__all__ = ["confluent_config", "faust_broker_settings"]


def confluent_config(kafka: KafkaConfig, **extra: Any) -> dict[str, Any]:
    """librdkafka settings for a producer, consumer or admin client.

    ``partitioner: murmur2_random`` makes keyed records land where the Java client and
    aiokafka (Faust) put them, which co-partitioning depends on.
    """
    conf: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "security.protocol": kafka.security_protocol,
    }
    if kafka.security_protocol.startswith("SASL"):
        conf["sasl.mechanism"] = kafka.sasl_mechanism
        conf["sasl.username"] = kafka.sasl_username
        conf["sasl.password"] = kafka.sasl_password.reveal() if kafka.sasl_password else ""
    if kafka.ssl_cafile:
        conf["ssl.ca.location"] = kafka.ssl_cafile
    conf.update(extra)
    return conf


def faust_broker_settings(kafka: KafkaConfig) -> dict[str, Any]:
    """Keyword settings for ``faust.App`` (broker URL and credentials)."""
    settings: dict[str, Any] = {
        "broker": ";".join(f"kafka://{s.strip()}" for s in kafka.bootstrap_servers.split(",")),
    }
    if kafka.security_protocol == "PLAINTEXT":
        return settings
    import faust

    ssl_context = None
    if kafka.security_protocol.endswith("SSL"):
        import ssl

        ssl_context = ssl.create_default_context(cafile=kafka.ssl_cafile or None)
    if kafka.security_protocol.startswith("SASL"):
        password = kafka.sasl_password.reveal() if kafka.sasl_password else ""
        if kafka.sasl_mechanism == "PLAIN":
            settings["broker_credentials"] = faust.SASLCredentials(
                username=kafka.sasl_username, password=password, ssl_context=ssl_context)
        else:
            settings["broker_credentials"] = faust.SASLCredentials(
                username=kafka.sasl_username, password=password, ssl_context=ssl_context,
                mechanism=kafka.sasl_mechanism)
    elif ssl_context is not None:
        settings["broker_credentials"] = ssl_context
    return settings
