"""Every command, with Kafka unreachable: one clear line naming the servers and `make kafka`,
a non-zero exit within seconds, no traceback; and no command but ``worker`` imports Faust.

The commands run one after another in one child interpreter (imports paid once, so the suite
stays short), each through ``streams.cli.main.main`` as the console script and ``python -m
streams`` call it, against a closed port on 127.0.0.1. The child records, per command, the
exit status, stderr, time taken, whether Faust got imported, and any exception that escaped
(what a user would see as a traceback). The time bound is generous: the old behaviour was
30 s and more (a view's load timeout, a producer's flush); the point is seconds.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.schemas.examples import mailing_tags, profile_snapshot
from tests.support.esp_reports import arf

ROOT = Path(__file__).resolve().parents[3]

#: runs each command given as a JSON list of argument lists; prints one JSON result per command
_DRIVER = """
import io, json, sys, time, traceback
from contextlib import redirect_stderr, redirect_stdout
from streams.cli.main import main
for args in json.loads(sys.argv[1]):
    out, err, escaped, code = io.StringIO(), io.StringIO(), None, 0
    started = time.monotonic()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            escaped, code = traceback.format_exc(), 1
    print(json.dumps({"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
                      "elapsed_s": time.monotonic() - started, "escaped": escaped,
                      "faust_imported": "faust" in sys.modules}), flush=True)
"""

#: every command that needs Kafka, with arguments that would otherwise work
NEEDS_KAFKA = {
    "worker": ["worker", "-l", "info"],
    "sender": ["sender"],
    "demo run": ["demo", "run", "--no-manage-broker"],
    "demo produce": ["demo", "produce", "--count", "1"],
    "loops add": ["loops", "add", "https://example.com/hook", "--events", "open"],
    "loops list": ["loops", "list"],
    "loops show": ["loops", "show", "l1"],
    "loops set": ["loops", "set", "l1", "--status", "enabled"],
    "loops validate": ["loops", "validate", "l1"],
    "loops test": ["loops", "test", "l1", "--json", "{}"],
    "loops rm": ["loops", "rm", "l1"],
    "loops rotate-secret": ["loops", "rotate-secret", "l1"],
    "loops public-key": ["loops", "public-key", "l1"],
    "dead-letters list": ["dead-letters", "list"],
    "dead-letters redrive": ["dead-letters", "redrive", "--dry-run"],
    "invalid list": ["invalid", "list"],
    "invalid replay": ["invalid", "replay", "--dry-run"],
    "esp load": ["esp", "load", "@report"],
    "esp unmapped": ["esp", "unmapped"],
    "topics create": ["topics", "create"],
    "profiles load": ["profiles", "load", "--quiet", "@profiles"],
    "tags load": ["tags", "load", "--quiet", "@tags"],
    "partitions scale": ["partitions", "scale", "8"],
    "partitions status": ["partitions", "status"],
    "partitions cancel": ["partitions", "cancel"],
}

#: commands that need no broker: they work with it down, without Faust
NO_KAFKA = {
    "--help": ["--help"],
    "config": ["config"],
    "topics list": ["topics", "list"],
    "esp headers": ["esp", "headers", "news", "--profile", "p1"],
    "loops --help": ["loops", "--help"],
    "worker --help": ["worker", "--help"],
}

DEADLINE_S = 25.0


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str
    elapsed_s: float
    escaped: str | None
    faust_imported: bool


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed once we leave: nothing listens there


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Ran]]:
    tmp = tmp_path_factory.mktemp("broker-down")
    files = {
        "report": tmp / "report.eml",
        "profiles": tmp / "profiles.jsonl",
        "tags": tmp / "tags.jsonl",
    }
    files["report"].write_bytes(arf("ref", "a@example.org", "<m1@example.org>"))
    files["profiles"].write_text(json.dumps(profile_snapshot()) + "\n")
    files["tags"].write_text(json.dumps(mailing_tags()) + "\n")
    servers = f"127.0.0.1:{_closed_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FL_")}
    env.update(KAFKA_BOOTSTRAP_SERVERS=servers, PYTHONUNBUFFERED="1",
               FL_ESP_REF_SECRET="a-ref-secret-of-24-chars")
    commands = {name: [str(files[a[1:]]) if a.startswith("@") else a for a in args]
                for name, args in {**NEEDS_KAFKA, **NO_KAFKA}.items()}
    # the commands that need no Kafka first: a Faust import by a later one cannot hide there
    order = [*NO_KAFKA, *NEEDS_KAFKA]
    proc = subprocess.run([sys.executable, "-c", _DRIVER, json.dumps([commands[n] for n in order])],
                          cwd=ROOT, env=env, text=True, capture_output=True, timeout=600)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and len(lines) == len(order), proc.stdout + proc.stderr
    # librdkafka or anything else writing straight to the process's stderr would show here
    assert proc.stderr == "", proc.stderr
    ran = {name: Ran(**json.loads(line)) for name, line in zip(order, lines)}
    ran["servers"] = Ran(0, servers, "", 0.0, None, False)
    yield ran


@pytest.mark.parametrize("command", sorted(NEEDS_KAFKA))
def test_says_which_servers_it_could_not_reach_and_exits(command: str,
                                                         results: dict[str, Ran]) -> None:
    ran, servers = results[command], results["servers"].stdout
    assert ran.escaped is None, ran.escaped
    assert ran.returncode == 69, (ran.returncode, ran.stderr)
    assert "Traceback" not in ran.stderr
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    assert f"cannot reach Kafka at {servers}" in lines[0] and "make kafka" in lines[0]
    assert "Connection refused" in lines[0]
    assert ran.elapsed_s < DEADLINE_S, f"{command} took {ran.elapsed_s:.1f}s"


@pytest.mark.parametrize("command", sorted([*NEEDS_KAFKA, *NO_KAFKA]))
def test_starts_without_faust(command: str, results: dict[str, Ran]) -> None:
    # in run order, so the first command that imports Faust is the one named
    assert not results[command].faust_imported, command


@pytest.mark.parametrize("command", sorted(NO_KAFKA))
def test_works_without_a_broker(command: str, results: dict[str, Ran]) -> None:
    ran = results[command]
    assert ran.escaped is None and ran.returncode == 0 and ran.stdout, ran.stderr
    assert ran.stderr.strip() == "", ran.stderr
