"""``theater keygen``, ``theater checkpoint``, ``theater checkpoints``: signing keys and
signed checkpoints (theater/checkpoint/, docs/verification.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..cli import Exit, db_option, emit_json, err, json_option, open_store
from ..errors import ExitCode, UsageError
from ..text import inert_line


@click.command()
@click.option("--out", "prefix", default="theater", show_default=True,
              help="Write PREFIX.key (private, mode 0600) and PREFIX.pub (public).")
@click.option("--name", default="theater", show_default=True,
              help="Key name shown in signature lines (no spaces, no '+').")
@click.option("--force", is_flag=True, help="Replace existing key files.")
def keygen(prefix: str, name: str, force: bool) -> None:
    """Create an Ed25519 key pair for signing checkpoints.

    The private key file is created with mode 0600 and never printed; the public key
    (a signed-note verifier key) is printed on stdout and written beside it.
    """
    from ..checkpoint import generate_key, write_key_pair

    key = generate_key(name)
    priv, pub = write_key_pair(prefix, key, force=force)
    click.echo(key.public().encode())
    err(f"wrote {priv} (private: keep it secret) and {pub} (public: give it to auditors)")


@click.command()
@click.argument("chain")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False),
              help="Private key file (from `theater keygen`).")
@click.option("--size", type=int, default=None,
              help="Number of events the checkpoint covers (default: all stored).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Also write the checkpoint note to this file (default: print it).")
@db_option
def checkpoint(chain: str, key_path: str, size: int | None, out: str | None, db: str | None) -> None:
    """Sign a checkpoint of CHAIN (its size and head hash) and store it.

    The chain is verified first, in one read transaction, and the checkpoint signs the
    size and head that verification computed (nothing is re-read, so a concurrent
    writer cannot slip in a head): a chain that does not verify is not signed (exit 1).
    The checkpoint note is printed on stdout (or written to --out); keep a copy away
    from the database, since anyone who can write the database can delete rows.
    """
    from verify.checkpoints import verify_and_sign

    from ..checkpoint import load_private_key

    key = load_private_key(key_path)
    if size is not None and size < 0:
        raise UsageError(f"--size {size} is outside the chain (it counts events, from 0)")
    with open_store(db) as store:
        result, cp = verify_and_sign(store, chain, key, size=size)
        if cp is None:
            err(result.summary())
            err("theater: refusing to sign a checkpoint of a chain that does not verify")
            raise Exit(ExitCode.FAILED)
        info_id = result.chain
    if out:
        try:
            Path(out).write_text(cp.text)
        except OSError as e:
            raise UsageError(f"cannot write {out}: {e.strerror}") from e
        err(f"checkpoint of {info_id} at size {cp.size} written to {out} and stored")
    else:
        click.echo(cp.text, nl=False)


@click.command()
@click.argument("chain", required=False)
@db_option
@json_option
def checkpoints(chain: str | None, db: str | None, as_json: bool) -> None:
    """List stored checkpoints (of CHAIN, or all); --json includes each note's text."""
    from ..checkpoint import CheckpointError, parse_checkpoint, stored_checkpoints

    with open_store(db) as store:
        chain_id = store.resolve(chain).id if chain else None
        rows = stored_checkpoints(store, chain_id)
    out = []
    for row_id, cid, note in rows:
        entry: dict[str, Any] = {"id": row_id, "chain": cid, "note": note}
        try:
            cp = parse_checkpoint(note)
        except CheckpointError as exc:
            entry["error"] = str(exc)
        else:
            entry.update(size=cp.size, head=cp.head.hex(),
                         signers=[f"{s.name}+{s.key_id.hex()}" for s in cp.signatures])
        out.append(entry)
    if as_json:
        emit_json(out)
        return
    if not out:
        err("no checkpoints stored")
    for row in out:
        what = row.get("error") or f"size {row['size']:>8}  head {row['head'][:16]}  {', '.join(row['signers'])}"
        click.echo(inert_line(f"{row['id']:>5}  {row['chain']:<16}  {what}"))  # names, errors: db text


COMMANDS = [keygen, checkpoint, checkpoints]
