"""Record rules: several arguments of one call copied from the same item of a list in one
earlier arrival (or a list of items copied item by item), and successive calls of the kind
taking the next item.

An agent that checks each flight segment of a reservation calls
search(origin=flights[k].origin, destination=flights[k].destination, date=flights[k].date)
for k = 0, 1, ...; one that reads search hits opens hits[k].url with hits[k].title. Per-hole
rules (store.py) fill each argument on its own, so they cannot tell that the three values
must come from the same segment. A record rule keeps them together:

  source, selector   the arrival, as in SessionState.entry_for (`out`, `k=get_reservation_details`),
                     or `a=<kind>`: every arrival of the kind, oldest first, their lists read
                     one after the other (an agent checking every segment of every
                     reservation it looked up; SessionState.record_entries)
  prefix             the list, its locator up to the item rank (`j:.flights.#`)
  fields             per covered hole, the field under the item (hole 0 <- `.origin`, ...)
                     and the item's offset: a hole inside item j of a list in the call's own
                     arguments reads item base + j (an upgrade that resends the reservation's
                     flights: flights[j] = {flight_number, date} of the reservation's item j)

Its candidates in a state are the list's items in rank order (the base), each the tuple of the
covered holes' values, rotated to continue after the item the kind's last call used (an agent
that skipped items goes on from where it is, not back to the first it skipped); items whose
values one earlier call of the kind used together, each in the argument it fills, go last (the
agent iterates; a return flight that swaps an outbound search's airports is not used yet).
Mining counts each rule's support and at which candidate rank the true tuple was
(P(correct | rank), like a hole's); the predictor fills the covered holes jointly from those
tuples and any other hole from its own rules. Values only ever come from the session's own
history (the tenant rule holds).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from paste.patterns.state import Entry, SessionState, used_key

# A list item's field: `j:.flights.#2.origin` -> (`j:.flights.#`, 2, `.origin`); the item
# is the innermost list (`j:.#0.#1.flight_number`: item 1 of the pair at rank 0).
ITEM = re.compile(r"^([ja]:.*\.#)(\d+)(\.[^#]*)$")
MAX_ITEMS = 30  # items examined per list (values.MAX_RANK: longer lists are not indexed)
SEP = "\x1f"
FIELD_SEP = "\x1e"


@dataclass(frozen=True)
class RecordRule:
    source: str
    selector: str
    prefix: str
    fields: tuple[tuple[int, int, str], ...]  # (hole index, item offset, field suffix)

    @property
    def key(self) -> str:
        fields = FIELD_SEP.join(f"{i}@{j}{suffix}" for i, j, suffix in self.fields)
        return SEP.join((self.source, self.selector, self.prefix, fields))

    @classmethod
    def from_key(cls, key: str) -> RecordRule:
        source, selector, prefix, fields = key.split(SEP)
        parsed = []
        for part in fields.split(FIELD_SEP):
            i, rest = part.split("@", 1)
            j, suffix = rest.split(".", 1)
            parsed.append((int(i), int(j), "." + suffix))
        return cls(source, selector, prefix, tuple(parsed))

    @property
    def holes(self) -> list[int]:
        return [i for i, _j, _suffix in self.fields]


def item_offset(path: list) -> int:
    """The index of the innermost list item a hole's argument path is in (0: none)."""
    return next((p for p in reversed(path) if isinstance(p, int)), 0)


def explain_records(state: SessionState, holes: list[str],
                    offsets: list[int] | None = None) -> set[RecordRule]:
    """Every record rule that reproduces at least two of the true hole values `holes` from
    one arrival in `state` (which needs its reverse index, as `explain`): hole i from item
    base + offsets[i] of one list (offsets: `item_offset` of each hole's path; default 0)."""
    groups: dict[tuple[int, str, int], dict[int, tuple[int, str]]] = {}
    for i, value in enumerate(holes):
        j = offsets[i] if offsets is not None else 0
        for idx, loc in state.reverse.get(value, ()):
            m = ITEM.match(loc)
            if m is not None and int(m.group(2)) >= j:
                fields = groups.setdefault((idx, m.group(1), int(m.group(2)) - j), {})
                fields.setdefault(i, (j, m.group(3)))
    rules: set[RecordRule] = set()
    for (idx, prefix, _base), fields in groups.items():
        if len(fields) < 2:
            continue
        covered = tuple((i, j, suffix) for i, (j, suffix) in sorted(fields.items()))
        entry = state.entries[idx]
        selectors = state.selectors(idx) + ([f"a={entry.kind}"] if entry.kind else [])
        for selector in selectors:
            rules.add(RecordRule(entry.source, selector, prefix, covered))
    return rules


def record_candidates(entries: Sequence[Entry], rule: RecordRule, used: Mapping[str, int],
                      locators: Sequence[str | None] = (), last: int = 0,
                      limit: int = MAX_ITEMS) -> list[tuple[str, ...]]:
    """The first `limit` distinct value tuples of the list's items in `entries` (in order;
    each entry's items by base rank), rotated to continue after the item the kind's last
    call used, the tuples one earlier call of the kind already used together last.
    `used`: SessionState.used_masks of the kind; `last`: the bit of the kind's last call in
    it (0: none); `locators`: the template's hole_locators, so that a value counts as used
    only in the argument it fills (a return flight swaps an outbound one's origin and
    destination); a hole without one matches the value in any argument."""
    keys = [locators[i] if i < len(locators) else None for i, _j, _suffix in rule.fields]
    items: list[tuple[tuple[str, ...], int]] = []  # (tuple, calls that used it together)
    distinct: set[tuple[str, ...]] = set()
    cursor = -1  # position of the last call's item
    for entry in entries:
        locs = entry.locs
        for base in range(MAX_ITEMS):
            values = []
            for _i, j, suffix in rule.fields:
                v = locs.get(f"{rule.prefix}{base + j}{suffix}")
                if v is None:
                    break
                values.append(v)
            else:
                item = tuple(values)
                if item not in distinct:
                    distinct.add(item)
                    common = -1
                    for loc, v in zip(keys, item, strict=True):
                        common &= used.get(v if loc is None else used_key(loc, v), 0)
                    if common & last:
                        cursor = len(items)
                    items.append((item, common))
                continue
            if not values:
                break  # the list ended (an item lacking only some fields is skipped)
    fresh = [item for item, common in items[cursor + 1:] + items[:cursor + 1] if not common]
    seen = [item for item, common in items if common]
    return (fresh + seen)[:limit]
