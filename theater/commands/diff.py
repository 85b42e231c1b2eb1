"""``theater diff``: where two chains part (a recording and its replay, two seeds)."""

from __future__ import annotations

import click

from ..cli import Exit, db_option, emit_json, json_option, open_store
from ..errors import ExitCode
from ..text import inert


@click.command()
@click.argument("chain_a")
@click.argument("chain_b")
@db_option
@json_option
def diff(chain_a: str, chain_b: str, db: str | None, as_json: bool) -> None:
    """Compare CHAIN_A (expected) with CHAIN_B (actual), event by event.

    Events are aligned by seq and compared on type and data, not on hashes, so two
    chains with different headers (seeds) still compare. Prints the common prefix,
    the first differing event with a structural diff of its data, and the tails.
    Exit 0 when the events are identical, 1 when they differ.
    """
    from verify.diff import diff_chains

    with open_store(db) as store:
        a, b = store.resolve(chain_a), store.resolve(chain_b)
        result = diff_chains(store, a, b)
        if as_json:
            emit_json(result.to_json())
        else:
            for line in result.summary():
                click.echo(inert(line))
    if not result.identical:
        raise Exit(ExitCode.FAILED)


COMMANDS = [diff]
