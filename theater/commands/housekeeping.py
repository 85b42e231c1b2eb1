"""``theater rm`` and ``theater gc``: removing chains, and what no chain uses."""

from __future__ import annotations

import click

from ..cli import db_option, emit_json, err, json_option, open_store
from ..errors import ChainInUse
from ..text import human_size


@click.command()
@click.argument("chains", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Remove the chains even when other chains link to them.")
@db_option
@json_option
def rm(chains: tuple[str, ...], force: bool, db: str | None, as_json: bool) -> None:
    """Remove CHAINS (ids, prefixes or `last`) with their events, checkpoints and replay
    outcomes, all in one transaction.

    A chain that other chains link to (a replay's replay_of, a fork's fork_of, another
    chain of its run), or one a live process is recording, is refused, and nothing is
    removed, unless --force. Components
    stay: `theater gc` removes those no chain uses.
    """
    with open_store(db) as store:
        infos = list({i.id: i for i in (store.resolve(c) for c in chains)}.values())
        ids = [i.id for i in infos]
        live = next((i for i in infos if i.display_status == "recording"), None)
        if live is not None and not force:
            raise ChainInUse(f"chain {live.id} is being recorded (process {live.writer_pid}); stop it first, "
                             "or pass --force; nothing was removed")
        links = store.links_to(ids)
        if links and not force:
            first = links[0]
            more = f" (and {len(links) - 1} more links)" if len(links) > 1 else ""
            raise ChainInUse(f"chain {first.target} is linked to: {first.describe()}{more}; "
                             "remove those chains too, or pass --force; nothing was removed")
        events = store.remove_chains(ids)
    if as_json:
        emit_json({"removed": ids, "events": events, "links": [x.to_json() for x in links]})
    else:
        for cid in ids:
            click.echo(cid)
        err(f"removed {len(ids)} chain{'s' if len(ids) != 1 else ''} ({events} events)")
        for x in links:
            err(f"  {x.source} still names {x.target} ({x.how})")


@click.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be freed.")
@db_option
@json_option
def gc(dry_run: bool, db: str | None, as_json: bool) -> None:
    """Remove the components no chain or replay ran and the blobs no event refers to,
    and say what was freed (SQLite reuses the space; `VACUUM` shrinks the file)."""
    with open_store(db) as store:
        freed = store.collect_garbage(dry_run=dry_run)
    if as_json:
        emit_json(freed.to_json())
        return
    verb = "would free" if dry_run else "freed"
    for sha in freed.components:
        click.echo(f"component {sha}")
    err(f"{verb} {len(freed.components)} component{'s' if len(freed.components) != 1 else ''} "
        f"({human_size(freed.component_bytes)}) and {freed.blobs} blob{'s' if freed.blobs != 1 else ''} "
        f"({human_size(freed.blob_bytes)})")


COMMANDS = [rm, gc]
