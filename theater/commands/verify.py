"""``theater verify``: check chains without running code (integrity, checkpoints, seed)."""

from __future__ import annotations

from typing import Any

import click

from ..cli import Exit, db_option, emit_json, err, json_option, open_store
from ..errors import ExitCode, UsageError
from ..text import inert
from ._fleet import TIMEOUT_HELP, verify_fleet


@click.command()
@click.argument("chain", required=False)
@click.option("--all", "all_", is_flag=True,
              help="Verify every chain in the database, and the links of every run of several chains.")
@click.option("--run", "run", default=None, metavar="RUN",
              help="Verify every chain of a run (an id, a unique prefix or `last`) and the links between them.")
@click.option("--key", "keys", multiple=True, type=click.Path(dir_okay=False),
              help="Public key file to check signed checkpoints with (repeatable). With a key, "
                   "every chain verified must have a checkpoint signed by it.")
@click.option("--checkpoint", "checkpoints", multiple=True, type=click.Path(dir_okay=False),
              help="A checkpoint text file to check as well (repeatable; needs --key). Without "
                   "CHAIN or --all, verifies the chains the checkpoints name.")
@click.option("--allow-unsigned-tail", is_flag=True,
              help="With --key, accept events no signed checkpoint covers (a complete chain's end, or a "
                   "chain never signed); the report still says how far the signatures reach.")
@click.option("--audit-random", is_flag=True,
              help="Regenerate the seeded random stream and check every recorded random value.")
@click.option("--jobs", type=click.IntRange(1, 1024), default=None,
              help="With --all: verify the chains in this many worker processes (docs/ci.md).")
@click.option("--cluster", default=None, metavar="tcp://HOST:PORT",
              help="With --all: verify the chains on this Dask scheduler's workers (docs/ci.md).")
@click.option("--timeout", type=click.FloatRange(0.001, 86400.0), default=600.0, help=TIMEOUT_HELP)
@db_option
@json_option
def verify(chain: str | None, all_: bool, run: str | None, keys: tuple[str, ...], checkpoints: tuple[str, ...],
           allow_unsigned_tail: bool, audit_random: bool, jobs: int | None, cluster: str | None, timeout: float,
           db: str | None, as_json: bool) -> None:
    """Verify CHAIN (default: the newest), or every chain with --all.

    Recomputes every hash from the header and the stored fields (SHA-256 for v1
    chains, upstream's SHA-1 rule for imported legacy ones) and reports the first
    failure with its class, seq, and expected versus computed values. With --key,
    checks signed checkpoints: a chain shorter than a checkpoint is truncated, one
    whose head differs was rewritten (fork), a complete chain whose end no signed
    checkpoint covers has an unsigned tail (unless --allow-unsigned-tail); the report
    says "signed through N of M events". Exit 0 when all verify, 1 when any
    fails, 2 when the input cannot be read whole.
    """
    from theater.checkpoint import load_public_key, read_checkpoint
    from theater.store import sqlite_errors
    from verify.audit import audit_chain, missing_chain
    from verify.checkpoints import CheckpointItem

    if chain and all_:
        raise UsageError("give a CHAIN or --all, not both")
    if run is not None:
        if chain or all_ or keys or checkpoints or audit_random:
            raise UsageError("--run checks a run's chains and links; give it alone (no CHAIN, --all, --key, "
                             "--checkpoint or --audit-random)")
        _verify_runs(db, run, as_json)
        return
    if allow_unsigned_tail and not keys:
        raise UsageError("--allow-unsigned-tail needs --key (without a key no signature is checked)")
    if checkpoints and not keys:
        raise UsageError("--checkpoint needs --key (a checkpoint is evidence only when a known key signed it)")
    if (jobs or cluster) and (not all_ or checkpoints):
        raise UsageError("--jobs and --cluster go with --all (and without --checkpoint)")
    pubs = [load_public_key(k) for k in keys]
    given = [CheckpointItem(read_checkpoint(p), p) for p in checkpoints]
    for item in given:
        if item.checkpoint.chain is None:
            raise UsageError(f"{item.source}: origin {item.checkpoint.origin!r} is not a theater chain")
    run_results: list[Any] = []
    unverified: list[Any] = []
    with open_store(db) as store, sqlite_errors(f"cannot read {store.path} whole"):
        if jobs or cluster:  # the fleet form: the same audit in workers (theater/commands/_fleet.py)
            results = verify_fleet(store=store, infos=store.chains(), pubs=pubs, audit_random=audit_random,
                                   allow_unsigned_tail=allow_unsigned_tail, jobs=jobs, cluster=cluster,
                                   timeout=timeout)
            unverified = [r for r in results if not hasattr(r, "ok")]
            results = [r for r in results if hasattr(r, "ok")]
        else:
            results = _run(store, chain, all_, pubs, given, audit_random, audit_chain, missing_chain,
                           show_progress=not as_json, allow_unsigned_tail=allow_unsigned_tail)
        if all_:  # every run's links too (a run of one chain has none)
            from theater.store.runs import runs as all_runs
            from verify.links import verify_run

            run_results = [verify_run(store, r) for r in all_runs(store) if len(r.chains) > 1]
    for r in results:
        if not as_json:
            _print(r)
    for rr in run_results:
        if not as_json:
            _print_run(rr, chains=False)
    if as_json:
        out = results[0].to_json() if len(results) == 1 and not all_ else {
            "ok": all(r.ok for r in results) and all(rr.ok for rr in run_results),
            "chains": [r.to_json() for r in results],
        }
        if all_:
            out["runs"] = [rr.to_json() for rr in run_results]
        emit_json(out)
    for u in unverified:
        err(f"theater: error: chain {u.chain} could not be verified: {u.reason}")
    if unverified:
        raise Exit(ExitCode.USAGE)
    if not all(r.ok for r in results) or not all(rr.ok for rr in run_results):
        raise Exit(ExitCode.FAILED)


def _verify_runs(db: str | None, ref: str, as_json: bool) -> None:
    """``verify --run RUN``: the run's chains, then its links both ways (verify/links.py)."""
    from theater.store import sqlite_errors
    from verify.links import verify_run

    with open_store(db) as store, sqlite_errors(f"cannot read {store.path} whole"):
        result = verify_run(store, ref)
    if as_json:
        emit_json(result.to_json())
    else:
        _print_run(result, chains=True)
    if not result.ok:
        raise Exit(ExitCode.FAILED)


def _print_run(result: Any, *, chains: bool) -> None:
    """A run's report: each chain's line (with ``chains``), each link problem naming both
    chains and seqs, and the run's line."""
    if chains:
        for r in result.chains:
            _print(r)
    for p in result.problems:
        err(inert(f"  {p.summary()}"))
    if result.ok:
        click.echo(inert(result.summary()))
    else:
        err(inert(result.summary()))


def _run(store: Any, chain: str | None, all_: bool, pubs: list[Any], given: list[Any], audit_random: bool,
         audit_chain: Any, missing_chain: Any, show_progress: bool = True,
         allow_unsigned_tail: bool = False) -> list[Any]:
    from ..progress import progress

    named = list(dict.fromkeys(item.checkpoint.chain for item in given))
    if all_:
        infos = store.chains()
    elif chain:
        infos = [store.resolve(chain)]
        for item in given:
            if item.checkpoint.chain != infos[0].id:
                raise UsageError(f"{item.source} is a checkpoint of chain {item.checkpoint.chain}, "
                                 f"not {infos[0].id}")
    elif given:
        infos = [store.chain(c) for c in named if _exists(store, c)]
    else:
        infos = [store.resolve("last")]
    results = []
    for info in infos:
        mine = [i for i in given if i.checkpoint.chain == info.id]
        with progress(f"verifying {info.id[:8]}", info.length or None, enabled=show_progress) as update:
            results.append(audit_chain(store, info, keys=pubs, checkpoints=mine, audit_random=audit_random,
                                       progress=update, allow_unsigned_tail=allow_unsigned_tail))
    present = {info.id for info in infos}
    for c in named:
        if c not in present:
            results.append(missing_chain(c, [i for i in given if i.checkpoint.chain == c], pubs))
    return results


def _exists(store: Any, chain_id: str) -> bool:
    return bool(store.chain_exists(chain_id))


def _print(r: Any) -> None:
    """The text report: what --json says, in lines (notes included: legacy limits,
    unchecked checkpoints, an audit that had nothing to audit, how far signatures reach)."""
    if r.ok:
        click.echo(inert(r.summary()))
        for note in r.notes:
            click.echo(f"  note: {inert(note)}")
        return
    err(r.summary())
    if r.signed_size is not None and "signed through" not in r.summary():
        err(f"  signed through {r.signed_size} of {r.events} events")
    p = r.problem
    if p.expected is not None or p.computed is not None:
        err(f"  expected: {p.expected}")
        err(f"  computed: {p.computed}")
    for ev in p.evidence:
        err(f"  evidence: {ev.get('source')} size {ev.get('size')} head {ev.get('head')}")
    for q in r.problems[1:]:
        where = "" if q.seq is None else f" at seq {q.seq}"
        err(f"  also: {q.kind}{where}: {q.message}")
    for note in r.notes:
        err(f"  note: {note}")


COMMANDS = [verify]
