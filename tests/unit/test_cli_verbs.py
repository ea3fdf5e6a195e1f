"""The verbs of ``voipwatch`` are listed once, each registered the same way, and every
module of the command line that holds a verb is in that list."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

import voipwatch.cli
from voipwatch.cli import app
from voipwatch.cli.output import FAILED, USAGE, bug
from voipwatch.cli.verbs import VERBS, build

#: Modules of the command line that hold what verbs share, not a verb.
SHARED = {"__main__", "options", "outfile", "output", "verbs"}


def _listed(text: str) -> list[str]:
    """Verb names in the order ``voipwatch --help`` shows them."""
    names = []
    for line in text.splitlines():
        cells = line.strip("│ ").split()
        if cells and any(cells[0] == name for name, _ in VERBS):
            names.append(cells[0])
    return names


def test_every_verb_module_is_listed_once() -> None:
    modules = {m.name for m in pkgutil.iter_modules(voipwatch.cli.__path__)} - SHARED
    listed = [(v.__module__ if not isinstance(v, typer.Typer) else None, name) for name, v in VERBS]
    names = [name for _, name in listed]
    assert len(names) == len(set(names)), names
    homes = {module.rsplit(".", 1)[1] for module, _ in listed if module is not None} | {
        name for name, v in VERBS if isinstance(v, typer.Typer)
    }
    assert modules == homes


def test_help_lists_commands_in_order_then_groups() -> None:
    r = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    commands = [name for name, v in VERBS if not isinstance(v, typer.Typer)]
    groups = [name for name, v in VERBS if isinstance(v, typer.Typer)]
    assert _listed(r.stdout) == commands + groups


def test_a_verb_and_a_group_register_the_same_way() -> None:
    def hello(name: str = "world") -> None:
        """Say hello."""
        typer.echo(f"hello {name}")

    group = typer.Typer(no_args_is_help=True)

    @group.command("sub")
    def sub() -> None:
        typer.echo("sub ran")

    one = build((("hello", hello), ("grp", group)))
    runner = CliRunner()
    assert runner.invoke(one, ["hello", "--name", "x"]).stdout == "hello x\n"
    assert runner.invoke(one, ["grp", "sub"]).stdout == "sub ran\n"
    assert runner.invoke(one, ["verdicts"]).exit_code == USAGE


def test_usage_and_failure_statuses() -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["export", "--tier", "nope", "--out", "x.parquet"])
    assert r.exit_code == USAGE
    assert "voipwatch export: --tier: 'nope' is not one of" in r.stderr
    r = runner.invoke(app, ["verdicts", "/nonexistent/voipwatch-test-input.jsonl"])
    assert r.exit_code == FAILED
    assert "0 measurements judged" in r.stderr


def test_a_rule_that_trips_is_named_a_bug_with_its_place() -> None:
    line = bug("m.jsonl:7", KeyError("probe_cc"))
    assert line == (
        "m.jsonl:7: could not judge (KeyError: 'probe_cc'); "
        "this is a voipwatch bug, please report it"
    )


def test_module_entry_point_is_the_console_script(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "voipwatch.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("voipwatch ")
