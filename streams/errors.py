"""Every failure ``streams/`` raises on purpose, under one root.

Callers decide from the class and its attributes, never from message text. The command line
turns any of these into one line on stderr and the class's ``exit_code``; the control API
turns :class:`InputError`, :class:`NotFound` and :class:`ReportRefused` into 4xx answers.

confluent-kafka's exceptions become these in exactly one place,
:func:`streams.kafka.failures.translate`.

Hierarchy::

    StreamsError                    root (exit_code 1)
    ├── ConfigError                 the configuration is invalid: key, bad value, what is valid (exit 2)
    ├── InputError                  a request or command argument is invalid (field, problem; exit 2)
    │   └── AccountInvalid          an account document or request is invalid (field, problem)
    ├── NotFound                    no loop with that id
    ├── AccountNotFound             no account (or token) with that id
    ├── AccountConflict             an account change that cannot be made as asked (field, problem)
    ├── Forbidden                   allowed route, input outside the caller's account (field, problem)
    ├── OutOfScope                  a statistics query names what the caller's account does not own
    ├── ReplayNotFound              no replay with that id
    ├── ReplayFailed                a replay cannot go on (its loop was deleted or disabled)
    ├── ExportFailed                an export process ended without its result
    ├── ReportRefused               a message cannot be an ESP report (problem, status 400 or 413)
    ├── InvalidDelivery             a record on a delivery topic is not a delivery
    └── KafkaFailure                Kafka did not do what we asked
        ├── BrokerUnreachable       no bootstrap server answered (servers, reason; exit 69)
        ├── TopicMissing            a topic the process reads does not exist (topic)
        ├── ViewNotLoaded           a compacted-topic view did not catch up in time (topic)
        ├── WriteNotVisible         an acknowledged write did not reach the view in time (topic)
        └── NotAcknowledged         Kafka did not acknowledge every record written
"""
from __future__ import annotations

__all__ = [
    "AccountConflict",
    "AccountInvalid",
    "AccountNotFound",
    "BrokerUnreachable",
    "ConfigError",
    "Forbidden",
    "InputError",
    "InvalidDelivery",
    "KafkaFailure",
    "NotAcknowledged",
    "NotFound",
    "OutOfScope",
    "ReplayFailed",
    "ReplayNotFound",
    "ExportFailed",
    "ReportRefused",
    "StreamsError",
    "TopicMissing",
    "ViewNotLoaded",
    "WriteNotVisible",
]

#: sysexits.h EX_UNAVAILABLE: a service the command needs is not available.
EX_UNAVAILABLE = 69


class StreamsError(Exception):
    """Root of every failure streams/ raises on purpose; ``exit_code`` for the command line."""

    #: the process exit status when this ends a command.
    exit_code: int = 1


class ConfigError(StreamsError):
    """The configuration is invalid; the message names the key and the problem."""

    exit_code = 2


class InputError(StreamsError):
    """A request body or command argument problem: ``field`` and a human ``problem``."""

    exit_code = 2

    def __init__(self, field: str | None, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


class AccountInvalid(InputError):
    """An account document or request is invalid (``field``, ``problem``)."""


class AccountNotFound(StreamsError):
    """No account (or token) with that id (``ident``)."""

    def __init__(self, ident: str) -> None:
        super().__init__(f"no account or token with id {ident!r}")
        self.ident = ident


class AccountConflict(StreamsError):
    """An account change that cannot be made as asked (``field``, ``problem``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


class Forbidden(StreamsError):
    """The route is allowed, its input is outside the caller's account (``field``, ``problem``)."""

    def __init__(self, field: str | None, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


class OutOfScope(StreamsError):
    """A statistics query names a database or collection the caller's account does not own."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field}: outside this token's account")
        self.field = field


class NotFound(StreamsError):
    """No loop with that id (``loop_id``)."""

    def __init__(self, loop_id: str) -> None:
        super().__init__(f"no loop with id {loop_id!r}")
        self.loop_id = loop_id


class ReplayNotFound(StreamsError):
    """No replay with that id (``replay_id``)."""

    def __init__(self, replay_id: str) -> None:
        super().__init__(f"no replay with id {replay_id!r}")
        self.replay_id = replay_id


class ReplayFailed(StreamsError):
    """A replay cannot go on; the message says why (its loop was deleted or disabled)."""


class ExportFailed(StreamsError):
    """One of an export's processes failed or ended without its result."""


class ReportRefused(StreamsError):
    """A message cannot be an ESP report: ``problem`` says why, ``status`` is 400 or 413."""

    def __init__(self, problem: str, status: int) -> None:
        super().__init__(problem)
        self.problem = problem
        self.status = status


class InvalidDelivery(StreamsError):
    """A record on a delivery topic is not a delivery (the sender dead-letters it)."""


class KafkaFailure(StreamsError):
    """Kafka did not do what we asked; the message says what and why."""


class BrokerUnreachable(KafkaFailure):
    """No bootstrap server answered: ``servers`` (as configured) and librdkafka's ``reason``."""

    exit_code = EX_UNAVAILABLE

    def __init__(self, servers: str, reason: str) -> None:
        super().__init__(
            f"cannot reach Kafka at {servers} (kafka.bootstrap_servers): {reason}. "
            "Start the local broker with `make kafka`, or point KAFKA_BOOTSTRAP_SERVERS "
            "at a running cluster.")
        self.servers = servers
        self.reason = reason


class TopicMissing(KafkaFailure):
    """A topic the process reads does not exist (``topic``)."""

    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic} does not exist: create the topics with "
                         "`feedbackloops topics create`")
        self.topic = topic


class ViewNotLoaded(KafkaFailure):
    """A compacted-topic view did not read its topic to the end within its wait (``topic``)."""

    def __init__(self, topic: str, waited_s: float, reason: str | None) -> None:
        super().__init__(f"{topic}: not loaded within {waited_s:g}s"
                         + (f" (last problem: {reason})" if reason else ""))
        self.topic = topic


class WriteNotVisible(KafkaFailure):
    """Kafka acknowledged a write but the view did not show it within the wait (``topic``)."""

    def __init__(self, topic: str, waited_s: float) -> None:
        super().__init__(f"{topic}: write not visible within {waited_s:g}s")
        self.topic = topic


class NotAcknowledged(KafkaFailure):
    """Kafka did not acknowledge every record written; nothing says which were kept."""
