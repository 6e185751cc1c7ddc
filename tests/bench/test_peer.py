"""The benchmark's peer (Kafka Connect + Aiven's HTTP sink): what it is given and how its calls
are counted. The measured run itself is the benchmark's (``python -m bench connect``)."""
from __future__ import annotations

import math
import urllib.request
from pathlib import Path

import orjson

from bench.generator import Workload, body_records, delivery_records
from bench.harness import Options
from bench.kafka_connect import PEER, ConnectStandalone
from bench.peer_runner import run_connect
from bench.receivers import BODY_PATH, NginxReceiver
from senders.encoding import encode
from streams.config.loading import parse_config
from streams.kafka.topics import Topics


def _properties(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


def test_an_absent_peer_is_reported_with_its_path_and_nothing_starts(tmp_path: Path) -> None:
    opts = Options(bootstrap="127.0.0.1:1", out_dir=tmp_path / "run",
                   peers_dir=tmp_path / "peers")
    result = run_connect(opts, "connect", "peer", 1000, 100, 100)
    assert result.notes and result.notes[0].startswith(
        f"peer not available at {tmp_path / 'peers' / PEER}")
    assert math.isnan(result.per_s)
    assert not (tmp_path / "run").exists()  # no receiver, no JVM, no topic


def test_the_connector_is_set_up_as_the_senders_work(tmp_path: Path) -> None:
    connect = ConnectStandalone(tmp_path, "127.0.0.1:9", "t", "http://127.0.0.1:8/body/hook", 8,
                                tmp_path / "plugins")
    worker, sink = _properties(connect.worker_file), _properties(connect.sink_file)
    assert worker["value.converter"] == "org.apache.kafka.connect.storage.StringConverter"
    assert sink["tasks.max"] == "8"
    assert sink["batching.enabled"] == "false"
    assert sink["http.headers.content.type"] == "application/json"
    assert sink["http.authorization.type"] == "none"
    assert sink["http.url"] == "http://127.0.0.1:8/body/hook"


def test_each_record_is_the_body_the_sender_posts_keyed_like_the_delivery() -> None:
    topics = Topics.for_config(parse_config({"kafka": {"bootstrap_servers": "127.0.0.1:9"}}))
    workload = Workload(topics, 6, 20)
    records = body_records(workload, "t", "bench")
    deliveries = delivery_records(workload, topics, ["bench"])  # the sender scenario's records
    assert [r[0] for r in records] == ["t"] * 6
    for i, (_, key, value) in enumerate(records):
        assert value == encode("json", [workload.payload(i)])[0]
        assert key == deliveries[i][1]
        assert orjson.loads(value)["event_id"] == workload.ids.id(i)


def test_nginx_logs_the_event_id_of_each_body_and_the_webhook_id_elsewhere(
        tmp_path: Path) -> None:
    receiver = NginxReceiver(tmp_path)
    try:
        calls = [(BODY_PATH, {"a": 1, "event_id": "e-1", "fields": {"event_id": "nested"}}, {}),
                 (BODY_PATH, {"a": 2, "event_id": "e-1"}, {}),  # a re-send: counted twice
                 (BODY_PATH, {"no": "id"}, {}),
                 ("/hook", {"event_id": "not-this"}, {"webhook-id": "w-1"})]
        for path, body, headers in calls:
            request = urllib.request.Request(receiver.url(path), data=orjson.dumps(body),
                                             headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=5) as resp:
                assert resp.status == 204
    finally:
        receiver.stop()  # flushes the buffered log
    assert receiver.arrivals().ids == ["e-1", "e-1", "-", "w-1"]
