"""``theater tui``: the terminal chain browser (textual is imported only when it runs)."""

from __future__ import annotations

import click

from ..cli import db_option, db_path


@click.command()
@click.argument("chain", required=False)
@click.option("--run", "run", default=None, metavar="RUN",
              help="Open the run view of RUN (an id, a unique prefix, or last).")
@db_option
def tui(chain: str | None, run: str | None, db: str | None) -> None:
    """Browse the chains in the database, and CHAIN's events if given.

    Keys: j/k move, g/G start and end, / find an event type, : go to a seq, enter
    open, escape back, v verify, d diff two chains, f1 help, ctrl+p commands, q quit;
    [ and ] the previous and next export call (with its state diff), l follow a link
    to another chain of the run (L back), R the run view.
    """
    from ..store import Store

    path = db_path(db)
    Store(path, create=False).close()  # a clear error before the screen is taken over

    from tui.app import TheaterApp

    TheaterApp(path, chain, run=run).run()  # a bad CHAIN or RUN fails here, before the screen


COMMANDS = [tui]
