"""``theater replay``: re-run a recorded chain on its recorded host results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..cli import Exit, db_option, emit_json, interruptible, json_option, open_store
from ..errors import ExitCode, UsageError
from ..progress import progress
from ..text import inert_line
from ._fleet import TIMEOUT_HELP, replay_fleet


def replay_one(store: Any, chain: str, *, component: Path | None = None, until: int | None = None,
               save: bool = False, interrupt: Any = None, update: Any = None) -> Any:
    """Replay one chain the way ``theater replay`` does: the recorded chain's integrity
    checked beside the replay (verify/background.py) unless the replay is saved (then
    its own hashes prove its head). Returns the :class:`replay.ReplayResult`; for
    callers that replay many chains."""
    from replay.replayer import replay as do_replay

    info = store.resolve(chain)
    check = None
    if not save:
        from verify.background import BackgroundVerify

        check = BackgroundVerify(store.db_file(), info.id, info.length)
    return do_replay(store, info, component=component, until=until, save=save, interrupt=interrupt,
                     progress=update, integrity=None if check is None else check.problem)


@click.command()
@click.argument("chain", required=False)
@db_option
@click.option("--verify", "check", is_flag=True,
              help="Exit 1 unless the replay reproduces the recording hash for hash.")
@click.option("--save", is_flag=True,
              help="Store the replayed run as a chain of its own (for diff and the TUI); "
                   "without it nothing is written but the replay's outcome.")
@click.option("--component", "components", multiple=True, metavar="PATH|ACTOR=PATH",
              help="Replay against this component instead of the recorded one (e.g. a new build). With --all "
                   "or --run, ACTOR=PATH gives one actor's build (repeatable).")
@click.option("--run", "run", default=None, metavar="RUN",
              help="Replay every actor of a run (an id, a unique prefix or `last`), reporting per actor.")
@click.option("--until", type=click.IntRange(0, 2**63 - 1), default=None, metavar="SEQ",
              help="Stop after event SEQ.")
@click.option("--override", "overrides", multiple=True, metavar="SEQ=JSON",
              help="What if host call SEQ had returned JSON (its WIT result, as events store it)? "
                   "Records a new chain; stops at the first difference.")
@click.option("--then-live", is_flag=True,
              help="With --override: at the first difference go on with live handlers and record the rest.")
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
def replay(chain: str | None, db: str | None, check: bool, save: bool, components: tuple[str, ...],
           run: str | None, until: int | None, overrides: tuple[str, ...], then_live: bool,
           all_: bool, actors: tuple[str, ...], chains: tuple[str, ...], jobs: int | None, cluster: str | None,
           timeout: float, junit: Path | None, as_json: bool) -> None:
    """Replay CHAIN (an id, a unique prefix, or 'last') without touching live handlers.

    Every host call is answered from the recording; the clock, the OS random source
    and the environment are never read. Each replayed event is compared, type and
    data bytes, with the recorded one, and the recording's integrity is checked
    beside it; only the outcome is stored, unless --save stores the run as a new chain
    linked to the original. A divergence report names the first event that differs
    and how.

    With --all, replays every recording (or those --actor / --chain select) in --jobs
    worker processes or on a Dask --cluster, stores each outcome, prints one line per
    chain and a summary, and exits 1 if any diverged or failed (docs/ci.md).
    """
    if all_ or actors or chains or jobs or cluster or junit:  # the fleet form (theater/commands/_fleet.py)
        if chain is not None or until is not None or not all_ or run is not None or overrides or save:
            raise UsageError("--actor, --chain, --jobs, --cluster and --junit go with --all "
                             "(and no CHAIN, --run, --until, --override or --save)")
        return replay_fleet(db=db, actors=actors, chains=chains, components=components, jobs=jobs,
                            cluster=cluster, timeout=timeout, junit=junit, as_json=as_json)
    if run is not None or chain is None:
        if overrides or then_live or save:
            raise UsageError("--override, --then-live and --save are for one chain, not --run")
        from .replay_run import replay_run_command

        replay_run_command(db, run, chain, components, until, check, as_json)
        return
    if len(components) > 1:
        raise UsageError("give one --component PATH for a chain (NAME=PATH, repeated, is for --run)")
    component = Path(components[0]) if components else None
    if overrides or then_live:
        _what_if(chain, db, overrides, then_live, component, check, save, until, as_json)
        return
    with open_store(db) as store:
        info = store.resolve(chain)
        total = info.length if until is None else min(info.length, until + 1)
        with interruptible() as stop, progress(f"replaying {info.id[:8]}", total or None,
                                               enabled=not as_json) as update:
            # Ctrl-C: exit 130 (a saved replay chain kept as incomplete)
            result = replay_one(store, info.id, component=component, until=until, save=save,
                                interrupt=stop, update=update)
    if as_json:
        emit_json(result.to_json())
    else:
        d = result.divergence
        state = "verified: identical to the recording" if result.verified else (
            "DIVERGED" if d is not None else "not identical")
        what = f"as {result.chain}" if result.saved else "(not saved)"
        click.echo(f"replayed {result.original} {what}: {result.events} events, "
                   f"head {result.head.hex()[:16]}, {state}")
        if result.note:
            click.echo(f"  note: {result.note}")
        if result.integrity:
            click.echo(f"  {inert_line(result.integrity)}")
        if d is not None:
            click.echo(d.report())
    if check and not result.verified:
        raise Exit(ExitCode.FAILED)



def _what_if(chain: str, db: str | None, overrides: tuple[str, ...], then_live: bool, component: Path | None,
             check: bool, save: bool, until: int | None, as_json: bool) -> None:
    """``theater replay --override``: replay.whatif.replay_overrides."""
    from replay.whatif import parse_override, replay_overrides

    from ..errors import UsageError

    if not overrides:
        raise UsageError("--then-live needs at least one --override SEQ=JSON")
    if check or save or until is not None:
        raise UsageError("--override records a new chain of its own: it does not take --verify, --save or --until")
    given = dict(parse_override(o) for o in overrides)
    with open_store(db) as store, interruptible() as stop:
        result = replay_overrides(store, chain, overrides=given, then_live=then_live, component=component,
                                  interrupt=stop)
    if as_json:
        emit_json(result.to_json())
    else:
        d = result.difference
        what = ("no difference: the recording shows nothing the overrides changed" if d is None
                else f"first difference at event {d.seq}" + (
                    f", live from there: {result.outcome}" if result.live_from is not None else ", stopped there"))
        click.echo(f"replayed {result.source} with "
                   f"{len(result.overrides)} override(s) as {result.chain}: {result.events} events, "
                   f"head {result.head.hex()[:16]}, {what}")
        if d is not None:
            click.echo(d.report())
        if result.error:
            click.echo(f"  the actor {result.outcome}: {inert_line(result.error)}")
    if result.live_from is not None and not result.outcome.ok:
        raise Exit(ExitCode.FAILED)


COMMANDS = [replay]
