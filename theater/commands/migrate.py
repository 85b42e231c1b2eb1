"""``theater migrate``: move a database of the first layout to storage v2 (issue 18 item 2)."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import emit_json, err, json_option
from ..errors import UsageError


@click.command()
@click.argument("db", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-backup", is_flag=True, help="Keep no copy of the file as it was (DB.v1.bak).")
@json_option
def migrate(db: Path, no_backup: bool, as_json: bool) -> None:
    """Migrate DB to storage layout 2, in one transaction, every chain verified before and after.

    The commit happens only when each chain verifies after as it did before (the
    same events, the same head). A copy of the file as it was is kept beside it
    (DB.v1.bak) unless --no-backup. A database already in layout 2 is left alone.
    Any write by theater migrates a v1 file the same way (with a backup).
    """
    from verify.integrity import verify_chain

    from ..store import Store
    from ..store.migrate import ChainCheck
    from ..store.migrate import migrate as run_migration

    def check(store: Store, info: object) -> ChainCheck:
        r = verify_chain(store, info, workers=1)  # type: ignore[arg-type]
        return ChainCheck(events=r.events, head=r.head if r.events else None, ok=r.ok)

    if not db.is_file():
        raise UsageError(f"no database at {db}")
    with Store(db, create=False) as store:
        result = run_migration(store, backup=not no_backup, check=check)
    if as_json:
        emit_json(result.to_json())
        return
    if not result.migrated:
        err(f"{db} is already in storage layout 2: nothing to do")
        return
    where = f"; the file as it was is in {result.backup}" if result.backup else "; no backup kept (--no-backup)"
    failing = f"; {len(result.failing)} chain(s) failed verification before and after, as they were" \
        if result.failing else ""
    click.echo(f"migrated {db} to storage layout 2: {len(result.chains)} chain(s), {result.events} events, "
               f"every head the same{failing}{where}")


COMMANDS = [migrate]
