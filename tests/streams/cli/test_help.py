"""``feedbackloops --help`` speaks for the product: an introduction, commands grouped by what
a user does, Faust's own commands and boilerplate out of the way."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from streams.cli.main import COMMANDS, cli
from streams.cli.run import worker_defaults

ROOT = Path(__file__).resolve().parents[3]
FAUST_COMMANDS = ("agents", "clean-versions", "livecheck", "model", "models", "reset", "send",
                  "tables", "completion")


def _help(*args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--help"], prog_name="feedbackloops")
    assert result.exit_code == 0, result.output
    return result.output


def test_help_introduces_the_product_and_where_config_comes_from() -> None:
    text = _help()
    assert "Feedback Loops: real-time e-mail event webhooks on Kafka." in text
    assert "workers" in text and "senders" in text
    assert "--config FILE" in text and "FL_CONFIG" in text and "KAFKA_BOOTSTRAP_SERVERS" in text


def test_commands_are_grouped_by_what_a_user_does() -> None:
    text = _help()
    headings = re.findall(r"^(\w+):$", text, re.M)
    assert headings == ["Options", "Run", "Operate", "Analyse", "Data", "Configure"]
    sections = {}
    for block in re.split(r"^(?=\w+:$)", text, flags=re.M):
        title, _, body = block.partition(":\n")
        sections[title] = re.findall(r"^  ([\w-]+)  ", body, re.M)
    assert sections["Run"] == ["worker", "sender", "replayer", "demo"]
    assert sections["Operate"] == ["loops", "dead-letters", "invalid", "esp", "stats", "partitions"]
    assert sections["Analyse"] == ["replay", "export"]
    assert sections["Data"] == ["topics", "profiles", "tags"]
    assert sections["Configure"] == ["config", "accounts"]


def test_no_faust_commands_or_boilerplate_in_our_help() -> None:
    text = _help()
    for boilerplate in ("Welcome", "faust-streaming.github.io", "--console-port", "--debug",
                        "--blocking-timeout", "--loop", "--datadir"):
        assert boilerplate not in text
    listed = set(re.findall(r"^  ([\w-]+)  ", text, re.M))
    assert listed.isdisjoint(FAUST_COMMANDS) and "faust" not in listed


def test_every_table_entry_is_a_command_with_its_summary() -> None:
    ctx = click.Context(cli)
    for section in COMMANDS:
        for entry in section.entries:
            command = cli.get_command(ctx, entry.name)
            assert isinstance(command, click.Command), entry.name
            assert command.get_short_help_str(limit=200) == entry.summary
            assert command.hidden == (section.title is None)


def test_a_command_shows_its_own_help() -> None:
    text = _help("loops")
    for sub in ("add", "list", "show", "set", "validate", "test", "rm", "rotate-secret"):
        assert re.search(rf"^  {sub}\b", text, re.M), sub
    worker_help = _help("worker")
    assert "-l, --loglevel" in worker_help and "--with-web" in worker_help


def test_worker_keeps_faust_web_server_off_unless_asked() -> None:
    assert worker_defaults([]) == ["--without-web"]
    assert worker_defaults(["--web-port", "7000"]) == ["--without-web", "--web-port", "7000"]
    assert worker_defaults(["--with-web"]) == ["--with-web"]


def test_faust_commands_stay_reachable_under_a_hidden_group(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"worker:\n  data_dir: {tmp_path / 'worker'}\n")
    proc = subprocess.run([sys.executable, "-m", "streams", "--config", str(config), "faust",
                           "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    listed = set(re.findall(r"^  ([\w-]+)  ", proc.stdout, re.M))
    assert {"agents", "tables", "send", "worker"} <= listed


def test_readme_command_line_section_lists_every_command() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    for group in COMMANDS:
        for entry in group.entries:
            if group.title is not None:
                assert f"`feedbackloops {entry.name}" in section or f"`{entry.name} " in section, \
                    entry.name
    assert "feedbackloops faust" in section
