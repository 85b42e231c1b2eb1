"""Sorting and filtering the chain list by actor, status and outcome (no textual here).

A filter is words separated by spaces, all of which must match (case-insensitive):
``field:text`` matches when that field contains ``text`` (fields: ``actor``,
``status``, ``outcome``, ``id``), a bare word when any of them does. ``status`` is
what the Status column says (``complete``, ``incomplete``, ``recording``, ``replay of
...``, a replay's ``verified`` or ``diverged at 9``); ``outcome`` is how the run ended,
from the chain's end event (``completed``, ``stopped``, ``trapped``, ``error``,
``diverged``), ``-`` while it has none.

::

    rows = [ChainFacts.of(info, status_text, outcome) for ...]
    shown = sort_chains(filter_chains(rows, "actor:counter outcome:trapped"), "actor")
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from theater.chain import END_TYPE
from theater.errors import UsageError
from theater.store import ChainInfo, Store

#: the orders ``s`` cycles through, the first being the database's (oldest first)
SORTS = ("created", "actor", "status", "outcome", "events")
FIELDS = ("actor", "status", "outcome", "id")


@dataclass(frozen=True, kw_only=True)
class ChainFacts:
    """What the list sorts and filters one chain on."""

    info: ChainInfo
    status: str
    outcome: str

    def field(self, name: str) -> str:
        if name == "actor":
            return self.info.actor
        if name == "status":
            return self.status
        if name == "outcome":
            return self.outcome
        return self.info.id


def end_outcome(store: Store, chain_id: str) -> str:
    """The ``outcome`` of a chain's end event, or ``-`` when it has none (yet)."""
    last = store.last_event(chain_id)
    if last is None or last.type != END_TYPE:
        return "-"
    try:
        data: Any = orjson.loads(last.data)
    except orjson.JSONDecodeError:
        return "?"
    outcome = data.get("outcome") if isinstance(data, dict) else None
    return outcome if isinstance(outcome, str) else "?"


def parse_filter(text: str) -> list[tuple[str | None, str]]:
    """``[(field or None, needle)]`` from a filter; raises :class:`UsageError` naming
    an unknown field."""
    terms: list[tuple[str | None, str]] = []
    for word in text.split():
        name, sep, needle = word.partition(":")
        if sep and name.lower() in FIELDS:
            terms.append((name.lower(), needle.lower()))
        elif sep and name:
            raise UsageError(f"no field {name!r} to filter on (one of {', '.join(FIELDS)})")
        else:
            terms.append((None, word.lower()))
    return terms


def filter_chains(rows: Iterable[ChainFacts], text: str) -> list[ChainFacts]:
    """The rows every term of the filter ``text`` matches, in their order."""
    terms = parse_filter(text)

    def ok(row: ChainFacts) -> bool:
        for name, needle in terms:
            fields = FIELDS if name is None else (name,)
            if not any(needle in row.field(f).lower() for f in fields):
                return False
        return True

    return [r for r in rows if ok(r)]


def sort_chains(rows: Iterable[ChainFacts], by: str) -> list[ChainFacts]:
    """The rows in the order ``by`` (one of :data:`SORTS`), ties oldest first;
    ``events`` puts the longest first."""
    rows = list(rows)
    if by == "created":
        return rows
    if by == "events":
        return sorted(rows, key=lambda r: -r.info.length)
    return sorted(rows, key=lambda r: r.field(by).lower())
