"""``theater runs``: the runs in a database (a run is one ``theater record``: the root
actor and every actor it spawned, each on its own chain)."""

from __future__ import annotations

import click

from ..cli import db_option, emit_json, json_option, open_store
from ..text import inert_line


@click.command()
@db_option
@json_option
def runs(db: str | None, as_json: bool) -> None:
    """List the runs in the database: root actor, actors, events and status.

    A run's id is its root chain's id; `theater verify --run RUN` checks it with the
    links between its chains."""
    from ..store.runs import run_summary
    from ..store.runs import runs as all_runs

    with open_store(db) as store:
        summaries = [run_summary(store, r) for r in all_runs(store)]
        if as_json:
            emit_json([s.to_json() for s in summaries])
            return
        if not summaries:
            click.echo(f"no runs in {store.path}", err=True)
            return
        for s in summaries:
            click.echo(f"{s.run.id}  {inert_line(s.run.root):<16} {len(s.run.chains):>3} actors "
                       f"{s.events:>8} events  {s.status}" + (f" ({inert_line(s.outcome)})" if s.outcome else ""))


COMMANDS = [runs]
