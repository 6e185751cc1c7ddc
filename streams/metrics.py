"""Every Prometheus metric of the pipeline, declared in one typed place.

Pass a registry (tests use a fresh ``CollectorRegistry``); the default is the process-global
one that ``/metrics`` serves. Names follow Prometheus conventions: ``_total`` for counters,
``_seconds`` for durations; ``loop`` labels carry loop ids (bounded by the number of loops).
"""
from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["PipelineMetrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                   300.0, 1800.0, 7200.0, 36000.0)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PipelineMetrics:
    """Counters, gauges and histograms of the worker and the sender.

    ``PipelineMetrics.shared()`` is the one instance on the process-global registry.
    """

    _shared: "PipelineMetrics | None" = None

    @classmethod
    def shared(cls) -> "PipelineMetrics":
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        r = registry
        # -- enrichment ----------------------------------------------------------------
        self.events_in = Counter("fl_events_in_total", "Raw records read, per topic",
                                 ["topic"], registry=r)
        self.invalid = Counter("fl_invalid_total", "Records sent to fl.invalid, per source topic",
                               ["topic"], registry=r)
        self.routed = Counter("fl_routed_total", "Deliveries created, per event type",
                              ["event_type"], registry=r)
        self.unrouted = Counter("fl_unrouted_total", "Valid events no loop asked for",
                                ["event_type"], registry=r)
        self.profile_missing = Counter(
            "fl_profile_missing_total",
            "Events naming a profile not (yet) in the profile table; delivered with "
            "profile_known=false", ["event_type"], registry=r)
        self.rekeyed = Counter("fl_rekeyed_total",
                               "Raw records written to the serving generation's internal "
                               "topics by the re-key stage (repartition mode), per raw topic",
                               ["topic"], registry=r)
        self.partitions = Gauge("fl_partitions",
                                "Partitions of the internal topics of the serving generation "
                                "(repartition mode)", registry=r)
        self.generation = Gauge("fl_partitions_generation",
                                "The serving generation of the internal topics (repartition "
                                "mode)", registry=r)
        self.scale_progress = Gauge(
            "fl_partitions_scale_progress_ratio",
            "How far `partitions scale` is, 0..1 (0 while none runs; the table copy is most of "
            "it, the cut-over the last percent)", registry=r)
        self.scale_phase = Gauge(
            "fl_partitions_scale_phase",
            "Phase of a running `partitions scale`: 0 none, 1 building, 2 cutting, 3 draining",
            registry=r)
        self.profile_writes = Counter("fl_profile_writes_total",
                                      "Profile table writes, per source", ["source"], registry=r)
        self.esp_events = Counter("fl_esp_events_total",
                                  "Raw events made from ESP reports and one-click "
                                  "unsubscribes, per type", ["event_type"], registry=r)
        self.esp_unmapped = Counter("fl_esp_unmapped_total",
                                    "ESP findings parked on fl.esp.unmapped (no profile), "
                                    "per finding type", ["finding_type"], registry=r)
        self.oversize = Counter(
            "fl_oversize_records_total",
            "Records over a size limit (limits.*), per kind: raw_event, profile, profile_edit, "
            "tags, esp_report (refused to fl.invalid or skipped), payload (delivered without "
            "its largest profile fields, or parked when that is not enough), record (over "
            "limits.record_bytes when produced: parked as a truncated copy)",
            ["kind"], registry=r)
        self.parked = Counter(
            "fl_parked_records_total",
            "Records Kafka refused for good (too large, invalid topic, not authorised) or that "
            "were over limits.record_bytes, parked in fl.invalid instead; per topic they were "
            "meant for and error", ["topic", "error"], registry=r)
        self.profile_actions = Counter("fl_profile_actions_total",
                                       "Profile actions written (complaints, opt-outs, "
                                       "one-click unsubscribes, hard bounces), per action",
                                       ["action"], registry=r)
        self.unsubscribe_requests = Counter(
            "fl_unsubscribe_requests_total", "One-click unsubscribe requests, per outcome "
            "(unsubscribed, repeated, refused, rate-limited, failed)", ["outcome"], registry=r)
        # -- delivery ------------------------------------------------------------------
        self.deliveries = Counter("fl_deliveries_total",
                                  "Delivery attempts per loop and outcome "
                                  "(delivered, retry, dead, gone, deferred)",
                                  ["loop", "outcome"], registry=r)
        self.delivered_events = Counter("fl_delivered_events_total",
                                        "Events acknowledged with 2xx (a batch counts each)",
                                        ["loop"], registry=r)
        self.http_latency = Histogram("fl_http_request_duration_seconds",
                                      "POST duration until the response, per loop",
                                      ["loop"], buckets=HTTP_BUCKETS, registry=r)
        self.end_to_end = Histogram("fl_event_to_delivery_seconds",
                                    "Raw event produce time to 2xx, all loops",
                                    buckets=LATENCY_BUCKETS, registry=r)
        self.retry_scheduled = Counter("fl_retry_scheduled_total",
                                       "Deliveries written to a retry tier", ["tier"], registry=r)
        self.retry_held = Gauge("fl_retry_held", "Retry records held in memory until due",
                                ["tier"], registry=r)
        self.dead_letters = Counter("fl_dead_letters_total", "Deliveries dead-lettered, per loop",
                                    ["loop"], registry=r)
        self.breaker_open = Gauge("fl_breaker_open", "1 while a loop's circuit breaker is open",
                                  ["loop"], registry=r)
        self.loops_disabled = Counter("fl_loops_disabled_total",
                                      "Loops disabled automatically, per reason", ["reason"],
                                      registry=r)
        self.in_flight = Gauge("fl_requests_in_flight", "HTTP requests in flight (process)",
                               registry=r)
        self.active = Gauge("fl_deliveries_active",
                            "Deliveries started and not decided: sending, or waiting for their "
                            "loop's slot or rate (process)", registry=r)
        self.pending = Gauge("fl_deliveries_pending", "Deliveries read but not yet committed",
                             registry=r)
        # -- replays (the replayer) ------------------------------------------------------
        self.replay_pace = Gauge("fl_replay_pace_per_s",
                                 "Deliveries per second the replays of this process may route "
                                 "now (streams.replay.pace)", registry=r)
        self.replay_cpu_wait = Gauge("fl_replay_cpu_wait_ratio",
                                     "Share of the last interval the replayer's runnable "
                                     "threads waited for a CPU", registry=r)
        self.consumer_lag = Gauge("fl_consumer_lag",
                                  "Records behind the end of the partition, for the partitions "
                                  "this process owns (sender: read position; worker: committed)",
                                  ["topic", "partition"], registry=r)
