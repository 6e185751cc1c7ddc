from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streams.config.loading import ConfigError, load_config, parse_config
from streams.config.settings import Secret

ROOT = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_are_valid() -> None:
    config = load_config(None, environ={})
    assert config.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert config.api.bind == "127.0.0.1"


def test_example_and_demo_files_are_valid() -> None:
    for name in ("deploy/feedbackloops.example.yaml", "deploy/demo.yaml"):
        load_config(ROOT / name, environ={})


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  bootstrap_server: x:1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(err.value).startswith("kafka.bootstrap_server: unknown key")
    assert "bootstrap_servers" in str(err.value)


@pytest.mark.parametrize("text, message", [
    ("kafka:\n  partitons: 3\n", "kafka.partitons: unknown key (did you mean 'partitions'?)"),
    ("kafak: {}\n", "kafak: unknown key (did you mean 'kafka'?)"),
    ("sender:\n  retry_schedule: [5]\n",
     "sender.retry_schedule: unknown key (did you mean 'retry_schedule_s'?)"),
    ("loops:\n  - {id: a, url: 'http://x', evnets: [open]}\n",
     "loops[0].evnets: unknown key (did you mean 'events'?)"),
])
def test_a_misspelt_key_names_the_closest_valid_one(tmp_path: Path, text: str,
                                                     message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), environ={})
    assert str(err.value) == message


def test_a_key_like_no_other_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "kafka:\n  zzzzzz: 1\n"), environ={})
    assert str(err.value).startswith("kafka.zzzzzz: unknown key (valid keys here: bootstrap_servers, ")


@pytest.mark.parametrize("name, message", [
    ("FL_KAFKA_PARTITONS",
     "environment FL_KAFKA_PARTITONS: kafka.partitons is not a setting "
     "(did you mean FL_KAFKA_PARTITIONS?)"),
    ("FL_KAFAK_PARTITIONS",
     "environment FL_KAFAK_PARTITIONS: unknown setting (did you mean FL_KAFKA_PARTITIONS?)"),
    ("FL_API_TOKEN", "environment FL_API_TOKEN: api.token is not a setting "
                     "(did you mean FL_API_TOKENS?)"),
])
def test_a_misspelt_environment_variable_names_the_closest_valid_one(name: str,
                                                                     message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, environ={name: "5"})
    assert str(err.value) == message


def test_unknown_section_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^kafak: unknown key"):
        load_config(write(tmp_path, "kafak: {}\n"), environ={})


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  partitions: [1, 2\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    msg = str(err.value)
    assert "malformed YAML" in msg and "line" in msg and "\n" not in msg


@pytest.mark.parametrize("text, message", [
    ("kafka:\n  partitions: many\n", "kafka.partitions: expected an integer, got 'many'"),
    ("kafka:\n  partitions: 0\n", "kafka.partitions: must be >= 1, got 0"),
    ("api:\n  port: 70000\n", "api.port: must be 0..65535, got 70000"),
    ("worker:\n  store: redis\n", "worker.store: expected one of rocksdb, memory, got 'redis'"),
    ("kafka:\n  raw_retention_hours: 24\n", "kafka.raw_retention_hours: the replay window"),
    ("kafka:\n  replication_factor: 3\n  min_insync_replicas: 4\n",
     "kafka.min_insync_replicas: must be 0 (replication_factor - 1) .. replication_factor (3)"),
    ("security:\n  allow_networks: [10.0.0.0/33]\n", "security.allow_networks[0]: '10.0.0.0/33'"),
    ("loops:\n  - {id: a, url: ftp://x, events: [open]}\n", "loops[0].url: must use http or https"),
    ("esp:\n  on_complaint: update\n", "esp.fields: on_complaint: update needs the field values"),
    ("esp:\n  databases: [{database: d, on_complaint: unsubscribe}]\n",
     "esp.databases[0].on_complaint: expected one of nothing, remove, update"),
    ("esp:\n  databases: [{database: d, fields: {a: b}}]\n",
     "esp.databases[0].fields: only used with on_complaint: update"),
    ("esp:\n  ref_secret: short\n", "esp.ref_secret: needs at least 16 characters"),
    ("loops:\n  - {id: a, url: 'http://x', events: [open], colour: red}\n", "loops[0].colour: unknown key"),
    ("limits:\n  record_bytes: 1000\n", "limits.record_bytes: must be 65536..104857600, got 1000"),
    ("limits:\n  raw_event_bytes: 990000\n",
     "limits.raw_event_bytes: must be 1024..983616 (record_bytes - 16384 for the key and headers)"),
    ("limits:\n  profile_bytes: 2000000\n", "limits.profile_bytes: must be 1024..983616"),
    ("limits:\n  record_bytes: 200000\n",
     "limits.raw_event_bytes: must be 1024..183616"),
    ("limits:\n  payload_bytes: 950000\n",
     "limits.payload_bytes: must be 4096..934464 (record_bytes - 65536 for the delivery's ids"),
    ("limits:\n  batch_body_bytes: 500000\n",
     "limits.batch_body_bytes: must be at least payload_bytes + 1024 (901024)"),
    ("limits:\n  response_bytes: 100\n", "limits.response_bytes: must be 2048..16777216"),
    ("esp:\n  max_report_bytes: 1000\n", "esp.max_report_bytes: unknown key"),
])
def test_bad_values_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), environ={})
    assert str(err.value).startswith(message)


@pytest.mark.parametrize("replication, configured, expected", [
    (1, 0, 1), (2, 0, 1), (3, 0, 2), (5, 0, 4), (3, 3, 3), (3, 1, 1)])
def test_min_insync_replicas_defaults_to_one_less_than_the_replicas(
        replication: int, configured: int, expected: int) -> None:
    kafka = parse_config({"kafka": {"replication_factor": replication,
                                    "min_insync_replicas": configured}}).kafka
    assert kafka.insync_replicas == expected


def test_env_overrides_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  bootstrap_servers: a:1\n  partitions: 3\n")
    config = load_config(path, environ={"KAFKA_BOOTSTRAP_SERVERS": "b:2", "FL_KAFKA_PARTITIONS": "5",
                                        "FL_SECURITY_ALLOW_NETWORKS": "127.0.0.0/8, ::1/128"})
    assert config.kafka.bootstrap_servers == "b:2"
    assert config.kafka.partitions == 5
    assert config.security.allow_networks == ("127.0.0.0/8", "::1/128")


def test_unknown_env_setting_is_named() -> None:
    with pytest.raises(ConfigError, match="FL_KAFKA_PARTITONS: kafka.partitons is not a setting"):
        load_config(None, environ={"FL_KAFKA_PARTITONS": "5"})
    with pytest.raises(ConfigError, match="FL_NOPE_X: unknown setting"):
        load_config(None, environ={"FL_NOPE_X": "1"})


def test_config_is_frozen() -> None:
    config = parse_config({})
    with pytest.raises(AttributeError):
        config.kafka.partitions = 3  # type: ignore[misc]


def test_secrets_never_print() -> None:
    config = parse_config({"api": {"tokens": ["a-very-secret-token-123"]}})
    token = config.api.tokens[0]
    assert isinstance(token, Secret) and token.reveal() == "a-very-secret-token-123"
    assert "a-very-secret" not in repr(config) and "a-very-secret" not in str(config)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=60)


def test_cli_stops_with_one_line_naming_the_key(tmp_path: Path) -> None:
    proc = run_cli("--config", str(write(tmp_path, "kafka:\n  partitons: 3\n")), "worker")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == ["Error: kafka.partitons: unknown key (did you mean 'partitions'?)"]


def test_cli_malformed_yaml_one_line(tmp_path: Path) -> None:
    proc = run_cli("--config", str(write(tmp_path, "kafka: [\n")), "topics", "list")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "malformed YAML" in proc.stderr


def test_cli_config_masks_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, "api:\n  tokens: [a-very-secret-token-123]\n")
    proc = run_cli("--config", str(path), "config")
    assert proc.returncode == 0, proc.stderr
    assert "a-very-secret" not in proc.stdout and "***" in proc.stdout


def test_esp_behaviour_per_database_and_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "esp:\n  databases:\n    - {database: news, on_complaint: remove}\n")
    config = load_config(path, environ={"FL_ESP_ON_COMPLAINT": "update",
                                        "FL_ESP_FIELDS": "newsletter=no, optin=0",
                                        "FL_ESP_REF_SECRET": "x" * 16})
    assert config.esp.behaviour("news") == ("remove", {})
    assert config.esp.behaviour("other") == ("update", {"newsletter": "no", "optin": "0"})
    assert str(config.esp.ref_secret) == "***"
    with pytest.raises(ConfigError, match=r"^esp.fields: expected key=value pairs"):
        load_config(None, environ={"FL_ESP_ON_COMPLAINT": "update", "FL_ESP_FIELDS": "newsletter"})


def test_the_delivery_client_is_libcurl_unless_told_otherwise() -> None:
    assert parse_config({}).sender.http_client == "curl"
    assert parse_config({"sender": {"http_client": "aiohttp"}}).sender.http_client == "aiohttp"
    with pytest.raises(ConfigError, match=r"sender.http_client: expected one of curl, aiohttp, got 'wget'"):
        parse_config({"sender": {"http_client": "wget"}})


def test_limits_default_to_kafkas_defaults_and_move_together(tmp_path: Path) -> None:
    from streams.kafka.topics import Topics

    limits = load_config(None, environ={}).limits
    assert limits.record_bytes == 1_000_000  # librdkafka's message.max.bytes default
    assert limits.topic_max_message_bytes == 1_048_588  # the broker's and topics' default
    assert limits.payload_bytes < limits.record_bytes <= limits.batch_body_bytes
    # the topics we create accept what our producers may send, whatever the broker's default
    config = load_config(None, environ={"FL_LIMITS_RECORD_BYTES": "5000000",
                                        "FL_LIMITS_PAYLOAD_BYTES": "4000000",
                                        "FL_LIMITS_BATCH_BODY_BYTES": "4001024"})
    specs = Topics.for_config(config).specs()
    assert {s.configs["max.message.bytes"] for s in specs} == {str(5_000_000 + 48_588)}
