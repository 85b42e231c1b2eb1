"""Integrity verification of a chain by its format: :func:`verify_chain` for a stored
chain, :func:`verify_format_rows` for rows of any format.

A v1 chain is walked in seq order with every hash recomputed (verify/walk.py); a
legacy one by upstream's rule (verify/legacy.py). The first failure is reported with a
class from :class:`~verify.results.FailureKind`, the seq where it was found, and the
expected and computed (or found) values. A chain with no end event verifies as a
prefix: ``complete`` is False and the result says so. A long chain is walked in
contiguous parts at once, one per process, with the serial walk's result
(verify/parallel.py; docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from theater.chain import genesis_hash
from theater.store import PAGE, ChainInfo, SQLiteError, Store, store_error

from .blobs import check_blob_rows
from .legacy import verify_legacy_rows
from .parallel import (
    LEAD_EVENTS,
    MAX_PARALLEL,
    PARALLEL_MIN_EVENTS,
    VERIFY_PAGE,
    WORKERS_ENV,
    VerifyPool,
    _processes,
    _verify_parallel,
    part_bounds,
)
from .results import Failure, FailureKind, Problem, VerifyResult
from .walk import LinkRows, OnEvent, finish, header_problem, verify_rows, walk_store


def verify_chain(
    store: Store,
    chain: ChainInfo | str,
    *,
    progress: Callable[[int], None] | None = None,
    on_event: OnEvent | None = None,
    workers: int | None = None,
    pool: VerifyPool | None = None,
    page: int = VERIFY_PAGE,
    link_rows: LinkRows | None = None,
) -> VerifyResult:
    """Verify one stored chain's integrity (no code is run), by its format.

    A database that cannot be read whole raises :class:`StoreError` (never a pass on a
    partial read). When every stored event verifies but fewer exist than the
    chains table recorded when they were written, the tail was deleted: ``truncated``.

    A v1 chain of :data:`PARALLEL_MIN_EVENTS` or more (without ``on_event``) is walked
    in up to :data:`MAX_PARALLEL` contiguous parts at once, one per process, with the
    same result as the serial walk; ``workers`` sets the number of processes (1:
    serial), ``pool`` lends worker processes to reuse (see :class:`VerifyPool`).
    ``progress`` then gets the sum of the parts' counts. ``page`` is the number of
    rows per read; parallel parts start on a multiple of it, so a part reads the pages
    the serial walk reads, and a read error stops both before the same rows.
    ``link_rows`` (walked serially, as with ``on_event``) gets the verified events that
    may carry a link, in order (``walk(link_rows=...)``: verify --run).
    """
    info = chain if isinstance(chain, ChainInfo) else store.chain(chain)
    try:
        if info.format == "v1" and isinstance(info.header, (bytes, bytearray)) and info.header:
            result = _verify_v1(store, info, progress, on_event, workers, pool, page, link_rows)
        else:
            result = verify_format_rows(
                info.format, info.id, info.header, store.event_rows(info.id),
                progress=progress, on_event=on_event if link_rows is None else _keeper(info, link_rows, on_event),
            )
    except SQLiteError as e:
        raise store_error(e, f"cannot read chain {info.id} from {store.path} whole") from e
    if result.ok and result.events < info.length:
        result = result.with_problems(Problem(
            kind=FailureKind.TRUNCATED, seq=result.events,
            message=f"the database recorded {info.length} events for this chain but only "
            f"{result.events} exist (events deleted from the end)",
            expected=str(info.length), computed=str(result.events),
        ))
    return result


def _keeper(info: ChainInfo, link_rows: LinkRows, on_event: OnEvent | None) -> OnEvent:
    """An ``on_event`` that keeps the link rows as ``walk(link_rows=...)`` does, for a
    chain of another format (its walk takes no ``link_rows``)."""
    from theater.chain import END_TYPE

    prev = [genesis_hash(bytes(info.header)) if isinstance(info.header, (bytes, bytearray)) else b""]

    def keep(seq: int, h: bytes, type_: str, data: bytes) -> None:
        if b'"cause":' in data or b'"to":' in data or type_ == END_TYPE:
            link_rows.append((seq, h, prev[0], type_, data))
        prev[0] = h
        if on_event is not None:
            on_event(seq, h, type_, data)

    return keep


def _verify_v1(store: Store, info: ChainInfo, progress: Callable[[int], None] | None, on_event: OnEvent | None,
               workers: int | None, pool: VerifyPool | None, page: int,
               link_rows: LinkRows | None = None) -> VerifyResult:
    bad = header_problem(bytes(info.header))
    if bad is not None:
        return VerifyResult(chain=info.id, events=0, complete=False, head=None, problems=(bad,))
    genesis = genesis_hash(bytes(info.header))
    k = 1 if link_rows is not None else _processes(store, info, on_event, workers)
    walked = None
    if k > 1:
        walked = _verify_parallel(store, info, genesis, k, progress, pool, page)
    if walked is None:  # serial, or the parallel walk could not vouch for its result
        blob_rows: list[tuple[int, str, bytes]] = []
        result = walk_store(store, info.id, genesis, 0, None, page, (genesis, None, 0, False), progress, on_event,
                            blob_rows, link_rows)
    else:
        result, blob_rows = walked
    # the blobs its verified events refer to, from the rows the walk passed (no second read)
    bad_blob = check_blob_rows(store, blob_rows, result.events)
    if bad_blob is not None:
        result = result.with_problems(bad_blob)
    return finish(replace(result, format="v1"), progress)


def verify_format_rows(
    fmt: str,
    chain_id: str,
    header: bytes,
    rows: Iterable[tuple[Any, ...]],
    *,
    progress: Callable[[int], None] | None = None,
    on_event: OnEvent | None = None,
) -> VerifyResult:
    """Verify rows by the rule of their chain format (``v1`` or ``legacy``)."""
    if fmt == "v1":
        result = verify_rows(chain_id, header, rows, progress=progress, on_event=on_event)
    elif fmt == "legacy":
        result = verify_legacy_rows(chain_id, header, rows, progress=progress, on_event=on_event)
    else:
        p = Problem(kind=FailureKind.MALFORMED, seq=None,
                    message=f"unknown chain format {fmt!r} (known: v1, legacy)")
        result = VerifyResult(chain=chain_id, events=0, complete=False, head=None, problems=(p,))
    return replace(result, format=fmt)


__all__ = [
    # defined here
    "verify_chain", "verify_format_rows",
    # re-exported for callers that import them from here (tui/, verify/__init__.py)
    "Failure", "FailureKind", "Problem", "VerifyResult", "OnEvent", "verify_rows", "header_problem",
    "VerifyPool", "part_bounds", "PAGE", "VERIFY_PAGE", "PARALLEL_MIN_EVENTS", "MAX_PARALLEL", "LEAD_EVENTS",
    "WORKERS_ENV",
]
