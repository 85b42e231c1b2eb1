"""``theater tui``: the terminal chain browser (textual is imported only when it runs)."""

from __future__ import annotations

import click

from ..cli import db_option, db_path


@click.command()
@click.argument("chain", required=False)
@db_option
def tui(chain: str | None, db: str | None) -> None:
    """Browse the chains in the database, and CHAIN's events if given.

    Keys: j/k move, g/G start and end, / find an event type, : go to a seq, enter
    open, escape back, v verify, d diff two chains, f1 help, ctrl+p commands, q quit.
    """
    from ..store import Store

    path = db_path(db)
    Store(path, create=False).close()  # a clear error before the screen is taken over

    from tui.app import TheaterApp

    TheaterApp(path, chain).run()


COMMANDS = [tui]
