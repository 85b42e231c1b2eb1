"""``theater replay``: re-run a recorded chain on its recorded host results."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import Exit, db_option, emit_json, interruptible, json_option, open_store
from ..errors import ExitCode, UsageError
from ..progress import progress
from ._fleet import TIMEOUT_HELP, replay_fleet


@click.command()
@click.argument("chain", required=False)
@db_option
@click.option("--verify", "check", is_flag=True,
              help="Exit 1 unless the replay reproduces the recording hash for hash.")
@click.option("--component", "components", multiple=True, metavar="PATH|ACTOR=PATH",
              help="Replay against this component instead of the recorded one (e.g. a new build). With --all, "
                   "ACTOR=PATH gives one actor's build (repeatable).")
@click.option("--until", type=click.IntRange(0, 2**63 - 1), default=None, metavar="SEQ",
              help="Stop after event SEQ.")
@click.option("--all", "all_", is_flag=True, help="Replay every recording (never replays of replays): see docs/ci.md.")
@click.option("--actor", "actors", multiple=True, help="With --all: only this actor's recordings (repeatable).")
@click.option("--chain", "chains", multiple=True, help="With --all: only this recording (repeatable).")
@click.option("--jobs", type=click.IntRange(1, 1024),
              default=None, help="With --all: worker processes (default: the CPUs).")
@click.option("--cluster", default=None, metavar="tcp://HOST:PORT", help="With --all: run on this Dask scheduler.")
@click.option("--timeout", type=click.FloatRange(0.001, 86400.0), default=600.0, help=TIMEOUT_HELP)
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --all: write a JUnit XML report to this file.")
@json_option
def replay(chain: str | None, db: str | None, check: bool, components: tuple[str, ...], until: int | None,
           all_: bool, actors: tuple[str, ...], chains: tuple[str, ...], jobs: int | None, cluster: str | None,
           timeout: float, junit: Path | None, as_json: bool) -> None:
    """Replay CHAIN (an id, a unique prefix, or 'last') without touching live handlers.

    Every host call is answered from the recording; the clock, the OS random source
    and the environment are never read. The run is stored as a new chain linked to the
    original. A divergence report names the first event that differs and how.

    With --all, replays every recording (or those --actor / --chain select) in --jobs
    worker processes or on a Dask --cluster, stores each outcome, prints one line per
    chain and a summary, and exits 1 if any diverged or failed (docs/ci.md).
    """
    if all_ or actors or chains or jobs or cluster or junit:  # the fleet form (theater/commands/_fleet.py)
        if chain is not None or until is not None or not all_:
            raise UsageError("--actor, --chain, --jobs, --cluster and --junit go with --all (and no CHAIN or --until)")
        return replay_fleet(db=db, actors=actors, chains=chains, components=components, jobs=jobs,
                            cluster=cluster, timeout=timeout, junit=junit, as_json=as_json)
    if chain is None or len(components) > 1:
        raise UsageError("give one CHAIN (or --all) and at most one --component PATH")
    component = Path(components[0]) if components else None
    from replay.replayer import replay as do_replay

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
