"""``theater diff``: where two chains part (a recording and its replay, two seeds)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..cli import Exit, db_option, emit_json, err, json_option, open_store
from ..errors import ExitCode
from ..text import inert

if TYPE_CHECKING:
    from ..store import Store


@click.command()
@click.argument("chain_a")
@click.argument("chain_b")
@click.option("--all", "every", is_flag=True,
              help="Align the chains by content and list every difference (changed, missing, inserted).")
@db_option
@json_option
def diff(chain_a: str, chain_b: str, every: bool, db: str | None, as_json: bool) -> None:
    """Compare CHAIN_A (expected) with CHAIN_B (actual), event by event.

    Events are aligned by seq and compared on type and data, not on hashes, so two
    chains with different headers (seeds) still compare. Prints the common prefix,
    the first differing event with a structural diff of its data, and the tails.
    Exit 0 when the events are identical, 1 when they differ.

    With --all, events are aligned by content instead (a shortest edit script over
    their type and data), so an inserted or missing call realigns the rest, and every
    difference is listed: changed (same type, other data), missing (only in A),
    inserted (only in B).
    """
    from verify.diff import diff_chains

    with open_store(db) as store:
        a, b = store.resolve(chain_a), store.resolve(chain_b)
        if every:
            _diff_all(store, a.id, b.id, as_json)
            return
        result = diff_chains(store, a, b)
        if as_json:
            emit_json(result.to_json())
        else:
            for line in result.summary():
                click.echo(inert(line))
    if not result.identical:
        raise Exit(ExitCode.FAILED)


def _diff_all(store: Store, a: str, b: str, as_json: bool) -> None:
    from ..align import align_chains, differences

    al = align_chains(store, a, b)
    if as_json:
        out = al.to_json()
        out["differences"] = [d.to_json() for d in differences(store, al)]
        emit_json(out)
    else:
        click.echo(f"A {a}: {len(al.seqs_a)} events")
        click.echo(f"B {b}: {len(al.seqs_b)} events")
        for d in differences(store, al):
            click.echo(inert(d.describe()))
        if al.identical:
            click.echo(f"identical: all {len(al.seqs_a)} events have equal type and data")
        else:
            counts = ", ".join(f"{n} {kind}" for kind, n in al.counts.items())
            click.echo(f"{sum(al.counts.values())} differences ({counts})")
        if al.approximate:
            err("theater: the chains differ in too many places for an exact alignment; "
                "the rest was paired by position")
    if not al.identical:
        raise Exit(ExitCode.FAILED)


COMMANDS = [diff]
