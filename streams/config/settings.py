"""The typed, frozen shape of the configuration (see ``deploy/feedbackloops.example.yaml``).

Units are in the names (``_s``, ``_ms``, ``_per_s``). ``check()`` methods raise
:class:`~streams.errors.ConfigError` with ``"<key>: <problem>"``; :mod:`streams.config.loading`
prefixes the section.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.errors import InvalidRecord
from schemas.loop import DEFAULTS, Loop

from streams.config.esp import EspConfig, EspDatabase
from streams.config.limits import LimitsConfig
from streams.config.secret import Secret
from streams.errors import ConfigError

__all__ = [
    "AccountDecl", "ApiConfig", "BatchDecl", "Config", "EspConfig", "EspDatabase", "KafkaConfig",
    "LimitsConfig", "LoopDecl", "ReplayConfig", "Secret", "SecurityConfig", "StatsConfig", "TokenDecl",
    "SenderConfig", "WorkerConfig",
]


@dataclass(frozen=True)
class KafkaConfig:
    """Where Kafka is and how our topics are laid out."""

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    #: partitions of every keyed topic; raw topics and fl.ref.profiles must share it.
    partitions: int = 8
    replication_factor: int = 1
    #: ``min.insync.replicas`` of every topic provisioning creates; 0 (the default) means
    #: ``replication_factor - 1``, at least 1: with 3 replicas an ``acks=all`` write is on two
    #: before it is acknowledged, and one broker may be down without stopping writes.
    min_insync_replicas: int = 0
    #: retention of the raw topics (the replay window); at least 7 days.
    raw_retention_hours: float = 168.0
    dead_retention_days: float = 30.0
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str = ""
    sasl_password: Secret | None = None
    ssl_cafile: str = ""
    #: how long a fetch of the followers (the loop, tag and account views of every process,
    #: the sender's consumer) waits at the broker while nothing new is there (librdkafka
    #: ``fetch.wait.max.ms``); a new record ends the wait at once, so this is not latency. It
    #: sets how many requests an idle pipeline sends: ~10 followers at 50 ms (and the sender at
    #: 20) made ~250 fetches a second, 0.1-0.2 cores of the broker with nothing to deliver.
    idle_fetch_wait_ms: int = 500

    @property
    def insync_replicas(self) -> int:
        """The ``min.insync.replicas`` topics are created with (see ``min_insync_replicas``)."""
        return self.min_insync_replicas or max(1, self.replication_factor - 1)

    def check(self) -> None:
        if not self.bootstrap_servers.strip():
            raise ConfigError("bootstrap_servers: must name at least one host:port")
        for server in self.bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"bootstrap_servers: {server.strip()!r} is not host:port")
        if self.partitions < 1:
            raise ConfigError(f"partitions: must be >= 1, got {self.partitions}")
        if not 10 <= self.idle_fetch_wait_ms <= 5000:
            raise ConfigError(f"idle_fetch_wait_ms: must be 10..5000, got {self.idle_fetch_wait_ms}")
        if self.replication_factor < 1:
            raise ConfigError(f"replication_factor: must be >= 1, got {self.replication_factor}")
        if not 0 <= self.min_insync_replicas <= self.replication_factor:
            raise ConfigError(f"min_insync_replicas: must be 0 (replication_factor - 1) .. "
                              f"replication_factor ({self.replication_factor}), got "
                              f"{self.min_insync_replicas}")
        if self.raw_retention_hours < 168:
            raise ConfigError("raw_retention_hours: the replay window needs >= 168 (7 days), "
                              f"got {self.raw_retention_hours:g}")
        if self.security_protocol.startswith("SASL") and not self.sasl_username:
            raise ConfigError("sasl_username: required with security_protocol "
                              f"{self.security_protocol}")


@dataclass(frozen=True)
class WorkerConfig:
    """The Faust worker (enrichment, routing, tables)."""

    app_id: str = "feedbackloops"
    store: Literal["rocksdb", "memory"] = "rocksdb"
    data_dir: str = "var/worker"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    json_logs: bool = False
    #: ``direct``: enrich the raw topics as they are (they must be co-partitioned with
    #: fl.ref.profiles: same count, murmur2, keyed by profile id). ``repartition``: a re-key
    #: stage first writes them to internal topics whose partition count the pipeline owns
    #: (``feedbackloops partitions scale N``); see docs/decisions.md.
    partitioning: Literal["direct", "repartition"] = "direct"
    #: `partitions scale` copies the table's changelog at most this fast (records/s), so the
    #: build does not compete with the serving generation for the brokers; 0: no limit
    scale_copy_rate_per_s: int = 50000
    #: raw events of a newly assigned partition wait at most this long for that partition's
    #: profile snapshots to be read (see streams/worker/bootstrap.py).
    profile_bootstrap_timeout_s: float = 300.0
    #: RocksDB block cache per profile-table partition, MiB (memory = partitions x this + 16).
    rocksdb_block_cache_mb: int = 16
    #: event loop of the worker and the sender processes: uvloop (C, less CPU per event) or
    #: the standard library's asyncio (for debugging).
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    #: a worker that stops heartbeating (killed, host lost) loses its partitions after this
    #: long; they stall until then (Faust's default is 60 s)
    session_timeout_s: float = 15.0
    #: the longest the worker's consumer waits between fetch rounds (when events trickle;
    #: shorter as the rate rises): fewer, fuller fetches at a steady rate, and the most an
    #: event waits extra before the worker reads it. 0: fetch again as soon as the last answer
    #: is read (streams/worker/fetching.py)
    fetch_interval_ms: int = 100

    def check(self) -> None:
        if not self.app_id or any(c.isspace() for c in self.app_id):
            raise ConfigError(f"app_id: must be a non-empty name without spaces, got {self.app_id!r}")
        if self.profile_bootstrap_timeout_s < 0:
            raise ConfigError("profile_bootstrap_timeout_s: must be >= 0, got "
                              f"{self.profile_bootstrap_timeout_s:g}")
        if not 6 <= self.session_timeout_s <= 300:
            raise ConfigError("session_timeout_s: must be 6..300 (6 s is the broker's default "
                              f"minimum), got {self.session_timeout_s:g}")
        if self.scale_copy_rate_per_s < 0:
            raise ConfigError("scale_copy_rate_per_s: must be >= 0 (0: no limit), got "
                              f"{self.scale_copy_rate_per_s}")
        if not 1 <= self.rocksdb_block_cache_mb <= 4096:
            raise ConfigError("rocksdb_block_cache_mb: must be 1..4096, got "
                              f"{self.rocksdb_block_cache_mb}")
        if not 0 <= self.fetch_interval_ms <= 1000:
            raise ConfigError(f"fetch_interval_ms: must be 0..1000, got {self.fetch_interval_ms}")


@dataclass(frozen=True)
class TokenDecl:
    """One token of a YAML-declared account: its id, role and SHA-256 (never the token)."""

    id: str
    role: Literal["viewer", "editor", "operator"]
    sha256: str
    label: str | None = None
    expires_at: float | None = None


@dataclass(frozen=True)
class AccountDecl:
    """An account declared in the YAML file (read-only over the API); see
    :mod:`streams.api.accounts` for scopes and roles."""

    id: str
    #: whole databases of this account; ``["*"]``: every database
    databases: tuple[str, ...] = ()
    #: database -> the only collections of it this account owns
    collections: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tokens: tuple[TokenDecl, ...] = ()

    def as_doc(self) -> dict[str, Any]:
        return {"id": self.id, "databases": list(self.databases),
                "collections": {db: list(c) for db, c in self.collections.items()},
                "tokens": [{k: v for k, v in vars(t).items() if v is not None}
                           for t in self.tokens]}

    def check(self) -> None:
        from streams.api.accounts import Account, AccountError

        try:
            Account.from_doc(self.as_doc(), "config")
        except AccountError as exc:
            raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class ApiConfig:
    """The control API and the dashboard (served by the worker)."""

    bind: str = "127.0.0.1"
    port: int = 6066
    #: operator tokens (every database, every route) of the built-in account "operators":
    #: the single-token configuration of earlier versions, kept working.
    tokens: tuple[Secret, ...] = ()
    #: accounts with scoped, hashed tokens (more are managed over the API, in fl.accounts)
    accounts: tuple[AccountDecl, ...] = ()

    def check(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port: must be 0..65535, got {self.port}")
        for token in self.tokens:
            if len(token.reveal()) < 16:
                raise ConfigError("tokens: every token needs at least 16 characters")
        seen: set[str] = set()
        for i, account in enumerate(self.accounts):
            if account.id in seen or account.id == "operators" and self.tokens:
                raise ConfigError(f"accounts[{i}].id: {account.id!r} is declared twice "
                                  "('operators' holds api.tokens)")
            seen.add(account.id)


@dataclass(frozen=True)
class SenderConfig:
    """The delivery engine and its retry policy. A loop's own limits (rate, in-flight,
    timeout, batch) and their defaults are the loop's: ``schemas/loop.json``."""

    metrics_bind: str = "127.0.0.1"
    #: /metrics, /healthz, /readyz of a sender process; 0 picks a free port.
    metrics_port: int = 6067
    # -- retries --
    retry_schedule_s: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    retry_jitter: float = 0.2
    #: a Retry-After longer than this is cut to it.
    max_retry_after_s: float = 36000.0
    #: a delivery older than this goes to dead letters instead of another retry.
    max_age_s: float = 172800.0
    # -- endpoint health --
    breaker_failures: int = 5
    breaker_open_s: float = 30.0
    #: a loop failing continuously this long is disabled (with an operational event).
    disable_after_s: float = 86400.0
    # -- process-wide bounds --
    #: HTTP requests in flight per sender process, all loops together.
    process_max_in_flight: int = 1024
    #: deliveries read but not finished, per partition, before that partition pauses (it
    #: resumes below 75 %); bounds memory at roughly 3 KiB per pending delivery.
    max_pending_per_partition: int = 5000
    #: when a loop's queue would take longer than this to drain (queued deliveries x its
    #: recent call duration / its in-flight cap, or / its rate), new deliveries for it are
    #: deferred to the first retry tier (not an attempt), so a slow or hanging endpoint cannot
    #: fill its partitions and stall the healthy loops sharing them.
    defer_after_s: float = 30.0
    #: the delivery client: ``curl`` (libcurl's multi interface, C; ~1/3 of aiohttp's CPU per
    #: call) or ``aiohttp`` (the pure-Python client, kept as a fallback). Both keep the same
    #: promises (SSRF guard on the connected address, no redirects/proxies/cookies, snippet).
    http_client: Literal["curl", "aiohttp"] = "curl"

    def check(self) -> None:
        if not self.retry_schedule_s or any(d <= 0 for d in self.retry_schedule_s):
            raise ConfigError("retry_schedule_s: needs at least one delay, all > 0")
        if list(self.retry_schedule_s) != sorted(self.retry_schedule_s):
            raise ConfigError("retry_schedule_s: delays must not decrease")
        if not 0 < self.breaker_open_s <= 3600:
            raise ConfigError(f"breaker_open_s: must be in (0, 3600], got {self.breaker_open_s:g}")
        if self.max_age_s <= 0:
            raise ConfigError(f"max_age_s: must be > 0, got {self.max_age_s:g}")
        if self.max_retry_after_s <= 0:
            raise ConfigError(f"max_retry_after_s: must be > 0, got {self.max_retry_after_s:g}")
        if self.disable_after_s <= 0:
            raise ConfigError(f"disable_after_s: must be > 0, got {self.disable_after_s:g}")
        if self.defer_after_s <= 0:
            raise ConfigError(f"defer_after_s: must be > 0, got {self.defer_after_s:g}")
        if not 0 <= self.retry_jitter < 1:
            raise ConfigError(f"retry_jitter: must be in [0, 1), got {self.retry_jitter:g}")
        for name in ("breaker_failures", "process_max_in_flight", "max_pending_per_partition"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class ReplayConfig:
    """The replayer process (``feedbackloops replayer``): replays and their delivery lane."""

    metrics_bind: str = "127.0.0.1"
    #: /metrics, /healthz, /readyz of a replayer process; 0 picks a free port.
    metrics_port: int = 6068
    #: the replay lane may use this fraction of every loop's rate and in-flight caps (the
    #: live sender keeps the whole caps: during a replay an endpoint may see up to
    #: 1 + share times them; a replay's own --rate can lower it further)
    share: float = 0.25
    #: OS scheduling priority of the replayer (``nice``; 0..19): on shared cores the live
    #: worker and sender run first
    nice: int = 19
    #: replays wait while the live pipeline is more than this many records behind (raw
    #: records the workers and deliveries the senders have not committed)
    pause_backlog: int = 2000
    #: deliveries a replay may route ahead of what its lane has finished; the reader waits
    #: beyond that (bounds the backlog a cancel leaves behind)
    max_ahead: int = 10000
    #: the replays' pace follows the CPU the live pipeline leaves (streams.replay.pace): the
    #: share of time the (niced) replayer's threads may wait for a CPU before the pace is cut
    yield_wait: float = 0.45
    #: the pace's floor (a replay always moves) and ceiling, deliveries per second per process
    min_rate_per_s: float = 50.0
    max_rate_per_s: float = 20000.0
    #: how often the pace is adjusted, seconds
    pace_interval_s: float = 0.5

    def check(self) -> None:
        if not 0.0 < self.yield_wait < 1.0:
            raise ConfigError(f"yield_wait: must be in (0, 1), got {self.yield_wait:g}")
        if not 0.0 < self.min_rate_per_s <= self.max_rate_per_s:
            raise ConfigError(f"min_rate_per_s: must be > 0 and <= max_rate_per_s "
                              f"({self.max_rate_per_s:g}), got {self.min_rate_per_s:g}")
        if not 0.05 <= self.pace_interval_s <= 60.0:
            raise ConfigError(f"pace_interval_s: must be 0.05..60, got {self.pace_interval_s:g}")
        if not 0.0 < self.share <= 1.0:
            raise ConfigError(f"share: must be in (0, 1], got {self.share:g}")
        if not 0 <= self.nice <= 19:
            raise ConfigError(f"nice: must be 0..19, got {self.nice}")
        if self.pause_backlog < 100:
            raise ConfigError(f"pause_backlog: must be >= 100, got {self.pause_backlog}")
        if self.max_ahead < 100:
            raise ConfigError(f"max_ahead: must be >= 100, got {self.max_ahead}")
        if not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics_port: must be 0..65535, got {self.metrics_port}")


@dataclass(frozen=True)
class SecurityConfig:
    """Outbound safety: which otherwise-refused networks the operator allows."""

    #: CIDR ranges exempt from the SSRF guard (tests and the demo allow 127.0.0.0/8).
    allow_networks: tuple[str, ...] = ()

    def check(self) -> None:
        for i, net in enumerate(self.allow_networks):
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ConfigError(f"allow_networks[{i}]: {net!r} is not a CIDR range") from None


@dataclass(frozen=True)
class BatchDecl:
    """json-batch: up to ``max_events`` per call, or what arrived within ``max_wait_ms``;
    left out = the loop schema's default."""

    max_events: int | None = None
    max_wait_ms: int | None = None


@dataclass(frozen=True)
class LoopDecl:
    """A feedback loop declared in the YAML file (published to fl.loops at start-up).

    ``trusted: true`` records the operator's word for URL ownership (validation method
    ``operator``); otherwise the loop waits for file or DNS validation like an API loop.
    Settings left out take the loop schema's defaults (``schemas/loop.json``); the loop is
    checked by the same model as every API or CLI loop (:class:`schemas.loop.Loop`).
    """

    id: str
    url: str
    events: tuple[str, ...]
    database: str | None = None
    collection: str | None = None
    encoding: Literal["json", "form", "json-batch"] | None = None
    fields: tuple[str, ...] | None = None
    batch: BatchDecl | None = None
    rate_per_s: float | None = None
    max_in_flight: int | None = None
    timeout_s: float | None = None
    delivery: Literal["events", "summary"] | None = None
    summary_every: Literal["1m", "1h", "1d"] | None = None
    secret: Secret | None = None
    trusted: bool = False

    def declared(self) -> dict[str, Any]:
        """The loop-document keys this declaration sets (what it leaves out is left out)."""
        doc: dict[str, Any] = {"id": self.id, "url": self.url, "events": list(self.events),
                               "database": self.database, "collection": self.collection,
                               "fields": None if self.fields is None else list(self.fields)}
        for key in ("encoding", "rate_per_s", "max_in_flight", "timeout_s", "delivery",
                    "summary_every"):
            if getattr(self, key) is not None:
                doc[key] = getattr(self, key)
        if self.batch is not None:
            batch = dict(DEFAULTS["batch"])
            batch.update({k: v for k, v in (("max_events", self.batch.max_events),
                                            ("max_wait_ms", self.batch.max_wait_ms))
                          if v is not None})
            doc["batch"] = batch
        return doc

    def check(self) -> None:
        secret = self.secret.reveal() if self.secret is not None else _PLACEHOLDER_SECRET
        doc = {**self.declared(), "secrets": [{"secret": secret, "expires_at": None}],
               "created_at": 0, "updated_at": 0, "version": 0}
        try:
            Loop.from_doc(doc)
        except InvalidRecord as exc:
            field_name = "secret" if (exc.field or "").startswith("secrets") else exc.field
            reason = exc.reason.replace(f"field '{exc.field}': ", "") if exc.field else exc.reason
            raise ConfigError(f"{field_name}: {reason}" if field_name else reason) from None


# valid by the secret rule; only used to check a declaration that brings no secret of its own
_PLACEHOLDER_SECRET = "whsec_" + "A" * 32


@dataclass(frozen=True)
class StatsConfig:
    """Statistics (streams/stats): an aggregator in every worker, counting from the topics
    the pipeline writes into ``fl.stats``."""

    enabled: bool = True
    #: how often counted deltas and input offsets are committed (one Kafka transaction)
    flush_s: float = 2.0
    #: a summary call (``delivery: summary``) is written this long after its window ended,
    #: so the window's late records (delivery lag, flush interval) are counted in it
    summary_delay_s: float = 30.0

    def check(self) -> None:
        if not 0.2 <= self.flush_s <= 60:
            raise ConfigError(f"flush_s: must be 0.2..60, got {self.flush_s:g}")
        if not 0 <= self.summary_delay_s <= 3600:
            raise ConfigError(f"summary_delay_s: must be 0..3600, got {self.summary_delay_s:g}")


@dataclass(frozen=True)
class Config:
    """Everything a process needs, validated once at start-up."""

    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    sender: SenderConfig = field(default_factory=SenderConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    esp: EspConfig = field(default_factory=EspConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    loops: tuple[LoopDecl, ...] = ()

    def check(self) -> None:
        seen: set[str] = set()
        for i, loop in enumerate(self.loops):
            if loop.id in seen:
                raise ConfigError(f"loops[{i}].id: duplicate loop id {loop.id!r}")
            seen.add(loop.id)
