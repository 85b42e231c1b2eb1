"""``theater verify``: check chains' integrity without running code."""

from __future__ import annotations

import click

from ..cli import Exit, db_option, emit_json, err, json_option, open_store
from ..errors import ExitCode, UsageError


@click.command()
@click.argument("chain", required=False)
@click.option("--all", "all_", is_flag=True, help="Verify every chain in the database.")
@db_option
@json_option
def verify(chain: str | None, all_: bool, db: str | None, as_json: bool) -> None:
    """Verify CHAIN (default: the newest), or every chain with --all.

    Recomputes every hash from the header and the stored fields and reports the first
    failure with its class, seq, and expected versus computed values. Exit 0 when all
    verify, 1 when any fails.
    """
    from verify.integrity import verify_chain

    if chain and all_:
        raise UsageError("give a CHAIN or --all, not both")
    with open_store(db) as store:
        infos = store.chains() if all_ else [store.resolve(chain or "last")]
        results = []
        for info in infos:
            r = verify_chain(store, info)
            results.append(r)
            if not as_json:
                (click.echo if r.ok else err)(r.summary())
                if r.problem and r.problem.expected is not None:
                    err(f"  expected: {r.problem.expected}")
                    err(f"  computed: {r.problem.computed}")
        if as_json:
            emit_json(results[0].to_json() if not all_ else {
                "ok": all(r.ok for r in results),
                "chains": [r.to_json() for r in results],
            })
        if not all(r.ok for r in results):
            raise Exit(ExitCode.FAILED)


COMMANDS = [verify]
