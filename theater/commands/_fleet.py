"""``replay --all`` and ``verify --all --jobs/--cluster``: the fleet forms of two
commands (docs/ci.md). Not a command module of its own (the leading underscore):
replay.py and verify.py call in here."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from ..cli import Exit, emit_json, interruptible, open_store
from ..errors import ExitCode, UsageError
from ..text import inert_line

TIMEOUT_HELP = "Seconds one chain may take before it is stopped and reported failed (default 600)."


def check_report_path(junit: Path | None) -> None:
    """A --junit FILE whose folder does not exist is refused before any work."""
    if junit is not None and not (junit.parent if str(junit.parent) else Path(".")).is_dir():
        raise UsageError(f"--junit {junit}: the folder {junit.parent} does not exist")


@contextmanager
def cluster_client(address: str | None) -> Iterator[Any]:
    """A connected Dask client for ``--cluster`` (None without it), closed after."""
    if address is None:
        yield None
        return
    from ..fleet import connect_cluster

    client = connect_cluster(address)
    try:
        yield client
    finally:
        client.close()


@contextmanager
def chain_bar(total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    """A progress bar of chains done (on a TTY only); yields ``advance()``."""
    from ..progress import progress

    done = [0]
    with progress("chains", total, enabled=enabled, min_total=2) as update:
        def advance() -> None:
            done[0] += 1
            update(done[0])

        yield advance


def replay_fleet(*, db: str | None, actors: Sequence[str], chains: Sequence[str], components: Sequence[str],
                 jobs: int | None, cluster: str | None, timeout: float, junit: Path | None,
                 as_json: bool) -> None:
    """``theater replay --all``: see replay/fleet.py."""
    from replay.fleet import ChainReplay, parse_components, replay_all, select

    from ..junit import Case, write_junit
    from ..outcomes import ReplayOutcome

    check_report_path(junit)
    default, by_actor = parse_components(components)
    with open_store(db) as store:
        infos, _ = select(store, actors=actors, chains=chains)
        with cluster_client(cluster) as client, interruptible() as stop, \
                chain_bar(len(infos), not as_json) as advance:
            def line(r: ChainReplay) -> None:
                advance()
                if as_json:
                    return
                head = f"{r.chain}  {inert_line(r.actor)}"
                if r.outcome == ReplayOutcome.VERIFIED:
                    click.echo(f"verified  {head}: {r.events} events")
                elif r.outcome == ReplayOutcome.DIVERGED:
                    where = f"at seq {r.seq} ({r.kind})" if r.result is not None and r.result.divergence else (
                        "head hash differs")
                    click.echo(f"DIVERGED  {head}: {where}")
                else:
                    click.echo(f"FAILED    {head}: {inert_line(r.error or r.kind or '')}")

            results = replay_all(store=store, actors=actors, chains=chains, component=default,
                                 components=by_actor, jobs=jobs, cluster=client, timeout=timeout,
                                 interrupt=stop, on_result=line)
    if junit is not None:
        cases = []
        for r in results.results:
            message = (f"diverged at seq {r.seq} ({r.kind})" if r.outcome == ReplayOutcome.DIVERGED
                       else f"failed: {r.error}")
            cases.append(Case(name=r.chain, classname=r.actor, seconds=r.seconds,
                              failure=(message, r.text()) if r.outcome == ReplayOutcome.DIVERGED else None,
                              error=(message, r.text()) if r.outcome == ReplayOutcome.FAILED else None))
        write_junit(junit, "theater replay", cases, seconds=results.seconds)
    if as_json:
        emit_json(results.to_json())
    else:
        for r in results.results:
            if r.outcome == ReplayOutcome.DIVERGED:
                click.echo(f"\n{r.chain} ({inert_line(r.actor)}):\n{r.text()}")
        click.echo(results.summary())
    if not results.ok:  # with or without --verify: a fleet run is a check
        raise Exit(ExitCode.FAILED)


def verify_fleet(*, store: Any, infos: list[Any], pubs: list[Any], audit_random: bool,
                 allow_unsigned_tail: bool, jobs: int | None, cluster: str | None, timeout: float) -> list[Any]:
    """``theater verify --all --jobs N / --cluster``: the same results as the serial
    walk, computed in workers (verify/fleet.py)."""
    from verify.fleet import verify_all

    with cluster_client(cluster) as client, interruptible() as stop:
        results: list[Any] = verify_all(store=store, infos=infos, keys=pubs, audit_random=audit_random,
                          allow_unsigned_tail=allow_unsigned_tail, jobs=jobs, cluster=client, timeout=timeout,
                          interrupt=stop)
    return results


__all__ = ["TIMEOUT_HELP", "check_report_path", "replay_fleet", "verify_fleet"]
