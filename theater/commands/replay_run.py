"""``theater replay --run RUN``: every actor of a run replayed from its own chain (the
replay command's run form; replay/run.py does the work)."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import Exit, emit_json, interruptible, open_store
from ..errors import ExitCode, UsageError
from ..text import inert


def replay_run_command(db: str | None, run: str | None, chain: str | None, components: tuple[str, ...],
                       until: int | None, check: bool, as_json: bool) -> None:
    from replay.run import replay_run

    if run is None:
        raise UsageError("give a CHAIN to replay, or --run RUN")
    if chain is not None:
        raise UsageError("give a CHAIN or --run RUN, not both")
    if until is not None:
        raise UsageError("--until replays one chain; it does not apply to --run")
    given: dict[str, Path] = {}
    for c in components:
        name, eq, path = c.partition("=")
        if not eq or not name or not path:
            raise UsageError(f"--component {c!r}: with --run, give NAME=PATH (an actor's name or id)")
        given[name] = Path(path)
    with open_store(db) as store, interruptible() as stop:
        result = replay_run(store, run, components=given, interrupt=stop)
    if as_json:
        emit_json(result.to_json())
    else:
        for a in result.actors:
            r = a.result
            state = "verified" if r.verified else ("DIVERGED" if r.divergence is not None else "not identical")
            click.echo(inert(f"{a.actor:<16} {a.chain} replayed as {r.chain}: {r.events} events, {state}"))
            if r.divergence is not None:
                click.echo(inert(r.divergence.report()))
        n = len(result.diverged)
        click.echo(inert(f"run {result.run}: {len(result.actors)} actors replayed, "
                         + ("all verified" if result.verified else f"{n} not identical")))
    if check and not result.verified:
        raise Exit(ExitCode.FAILED)
