"""``theater replay``: re-run a recorded chain on its recorded host results."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import Exit, db_option, emit_json, interruptible, json_option, open_store
from ..errors import ExitCode, UsageError
from ..progress import progress


@click.command()
@click.argument("chain", required=False)
@db_option
@click.option("--verify", "check", is_flag=True,
              help="Exit 1 unless the replay reproduces the recording hash for hash.")
@click.option("--component", "components", multiple=True, metavar="PATH",
              help="Replay against this component instead of the recorded one (e.g. a new build); "
                   "with --run, NAME=PATH for one actor (repeatable).")
@click.option("--run", "run", default=None, metavar="RUN",
              help="Replay every actor of a run (an id, a unique prefix or `last`), reporting per actor.")
@click.option("--until", type=click.IntRange(0, 2**63 - 1), default=None, metavar="SEQ",
              help="Stop after event SEQ.")
@json_option
def replay(chain: str | None, db: str | None, check: bool, components: tuple[str, ...], run: str | None,
           until: int | None, as_json: bool) -> None:
    """Replay CHAIN (an id, a unique prefix, or 'last') without touching live handlers.

    Every host call is answered from the recording; the clock, the OS random source
    and the environment are never read. The run is stored as a new chain linked to the
    original. A divergence report names the first event that differs and how.
    """
    from replay.replayer import replay as do_replay

    if run is not None or chain is None:
        from .replay_run import replay_run_command

        replay_run_command(db, run, chain, components, until, check, as_json)
        return
    if len(components) > 1:
        raise UsageError("give one --component PATH for a chain (NAME=PATH, repeated, is for --run)")
    component = Path(components[0]) if components else None
    with open_store(db) as store:
        info = store.resolve(chain)
        total = info.length if until is None else min(info.length, until + 1)
        with interruptible() as stop, progress(f"replaying {info.id[:8]}", total or None,
                                               enabled=not as_json) as update:
            # Ctrl-C: exit 130, the replay chain kept as incomplete
            result = do_replay(store, info, component=component, until=until, interrupt=stop, progress=update)
    if as_json:
        emit_json(result.to_json())
    else:
        d = result.divergence
        state = "verified: identical to the recording" if result.verified else (
            "DIVERGED" if d is not None else "not identical")
        click.echo(f"replayed {result.original} as {result.chain}: {result.events} events, "
                   f"head {result.head.hex()[:16]}, {state}")
        if result.note:
            click.echo(f"  note: {result.note}")
        if d is not None:
            click.echo(d.report())
    if check and not result.verified:
        raise Exit(ExitCode.FAILED)


COMMANDS = [replay]
