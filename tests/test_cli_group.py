"""The ``theater`` click group maps exceptions to the exit-code contract itself (issue 12
item 8), so an in-process ``CliRunner`` run gives what the console script gives: the
documented exit code and one line on stderr, never a traceback or click's exit 1."""

from __future__ import annotations

from pathlib import Path

import orjson
from actors import wat_manifest
from click.testing import CliRunner
from conftest import run_cli, run_cli_process

from theater.cli import cli


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args), env={"THEATER_DB": None})


def test_group_maps_a_theater_error_to_exit_2_with_one_line(tmp_path: Path) -> None:
    """issue 12 item 8: a TheaterError (no database) under CliRunner is exit 2 and one
    line naming the file and what to do; before, the group let it escape (exit 1)."""
    missing = tmp_path / "nothing.db"
    res = _invoke("verify", "abc", "--db", str(missing))
    assert res.exit_code == 2, (res.exit_code, res.exception, res.stderr)
    assert isinstance(res.exception, SystemExit)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("theater: error: no database at "), res.stderr
    assert str(missing) in lines[0] and "Traceback" not in res.output
    assert not missing.exists()  # nothing half-written


def test_group_maps_usage_errors_to_one_line_naming_the_command() -> None:
    """issue 12 item 8: click's usage errors are one line, exit 2, naming `theater <cmd> --help`
    (the group is called "theater" also when CliRunner picks the program name)."""
    res = _invoke("verify", "--no-such-flag")
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "No such option '--no-such-flag'" in lines[0], res.stderr
    assert lines[0].endswith("(see `theater verify --help`)"), lines[0]
    res = _invoke("bogus")
    assert res.exit_code == 2 and res.stderr.strip().endswith("(see `theater --help`)"), res.stderr


def test_group_gives_exit_1_for_a_failed_actor_in_process(tmp_path: Path) -> None:
    """issue 12 item 8: an actor that traps is exit 1 (ActorError) in process too."""
    m = wat_manifest(tmp_path, "counter_trap")
    res = _invoke("record", str(m), "--db", str(tmp_path / "t.db"), "-q", "--send", "a", "--send", "b")
    assert res.exit_code == 1, (res.exit_code, res.exception, res.stderr)
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.output, res.stderr


def test_in_process_and_subprocess_runs_agree(tmp_path: Path) -> None:
    """issue 12 item 8: the helper most tests use (in process) and the real entry point
    (`python -m theater`, a subprocess) give the same exit codes, stdout and stderr."""
    db = tmp_path / "a.db"
    m = wat_manifest(tmp_path, "counter")
    rec = run_cli("record", str(m), "--db", str(db), "-q", "--json")
    assert rec.returncode == 0, rec.stderr
    chain = orjson.loads(rec.stdout)["chain"]
    codes = set()
    for args in (("verify", chain, "--db", str(db), "--json"),
                 ("chains", "--db", str(db)),
                 ("events", chain, "--db", str(db)),
                 ("show", chain, "2", "--db", str(db), "--json"),
                 ("export", chain, "--db", str(db)),
                 ("diff", chain, chain, "--db", str(db), "--json"),
                 ("checkpoints", "--db", str(db)),
                 ("verify", "ffffffffffff", "--db", str(db)),
                 ("verify", chain, "--db", str(tmp_path / "none.db")),
                 ("record", "--bogus")):
        a, b = run_cli(*args), run_cli_process(*args)
        assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr), args
        codes.add(a.returncode)
    assert codes == {0, 2}
    # replay writes no chain (issue 18 item 3): the same output in and out of process
    a, b = (f("replay", chain, "--db", str(db), "--verify", "--json") for f in (run_cli, run_cli_process))
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr) and a.returncode == 0
    assert orjson.loads(a.stdout)["chain"] is None and orjson.loads(a.stdout)["verified"]
    # replay --save writes a new chain each run: the same result but for the new chain's id
    a, b = (f("replay", chain, "--db", str(db), "--verify", "--json", "--save") for f in (run_cli, run_cli_process))
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    ja, jb = orjson.loads(a.stdout), orjson.loads(b.stdout)
    assert ja.pop("chain") != jb.pop("chain") and ja == jb and ja["verified"] and a.stderr == b.stderr
