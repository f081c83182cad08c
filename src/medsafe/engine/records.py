"""A run's items held compactly while its outputs are built.

An item as the store reads it is a dict of about 30 entries: 2.2 kB in memory, of which the
dict itself is 0.8 kB, the prompt's JSON, the answer and the cache keys most of the rest, and
the run, target, suite and judge strings, the same on every item, about 0.35 kB. Writing the
outputs of a 100,000-sample run needs every item at once (the summary's intervals and the
report's figures read them all), so they are kept here compactly: one tuple of values per item
behind a column index they share, the values that repeat on every item stored once, and the
64-digit cache keys as their 32 bytes. Reading one gives an :class:`ItemRecord`, which reads
like the dict it came from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

# Columns whose values repeat across a run's items: one string each instead of one per item.
_SHARED = ("run_id", "target", "suite", "judge", "finish_reason")
# Cache keys (SHA-256 hex): held as bytes, 65 bytes of memory instead of 113. No column of an
# item holds bytes otherwise (SQLite gives the store's TEXT, INTEGER and REAL values).
_KEYS = ("response_key", "judgement_key")


class ItemRecord(Mapping[str, Any]):
    """One item, read like the dict :meth:`RunStore.items` gives (read-only)."""

    __slots__ = ("_columns", "_values")

    def __init__(self, columns: dict[str, int], values: tuple[Any, ...]) -> None:
        self._columns = columns
        self._values = values

    def __getitem__(self, key: str) -> Any:
        value = self._values[self._columns[key]]
        return value.hex() if type(value) is bytes else value

    # Mapping's own get and `in` go through __getitem__ and KeyError: the outputs call them
    # millions of times on a large run.
    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when the item has no such column."""
        index = self._columns.get(key)
        if index is None:
            return default
        value = self._values[index]
        return value.hex() if type(value) is bytes else value

    def __contains__(self, key: object) -> bool:
        return key in self._columns

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __repr__(self) -> str:
        return f"ItemRecord({dict(self)!r})"


class ItemRecords(Sequence[ItemRecord]):
    """A run's items in order, read as :class:`ItemRecord`; ``append`` takes the store's dicts."""

    def __init__(self, items: Iterable[dict[str, Any]] = ()) -> None:
        self._values: list[tuple[Any, ...]] = []
        self._columns: dict[str, int] = {}
        self._shared: list[tuple[int, dict[Any, Any]]] = []
        self._keys: list[int] = []
        for item in items:
            self.append(item)

    def append(self, item: dict[str, Any]) -> None:
        """Add one item (a dict as :meth:`RunStore.items` gives it)."""
        if not self._columns:
            self._columns = {key: index for index, key in enumerate(item)}
            self._shared = [(self._columns[c], {}) for c in _SHARED if c in self._columns]
            self._keys = [self._columns[c] for c in _KEYS if c in self._columns]
        if len(item) != len(self._columns):
            raise ValueError(f"item columns {sorted(item)} differ from {sorted(self._columns)}")
        values = [item[key] for key in self._columns]
        for index, seen in self._shared:
            values[index] = seen.setdefault(values[index], values[index])
        for index in self._keys:
            key = values[index]
            if isinstance(key, str) and len(key) == 64:
                with contextlib.suppress(ValueError):  # not hex: kept as it is
                    packed = bytes.fromhex(key)
                    if packed.hex() == key:  # (an upper-case key would not read back the same)
                        values[index] = packed
        self._values.append(tuple(values))

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def __getitem__(self, index: int) -> ItemRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[ItemRecord]: ...

    def __getitem__(self, index: int | slice) -> ItemRecord | list[ItemRecord]:
        if isinstance(index, slice):
            return [ItemRecord(self._columns, values) for values in self._values[index]]
        return ItemRecord(self._columns, self._values[index])

    def __iter__(self) -> Iterator[ItemRecord]:
        for values in self._values:
            yield ItemRecord(self._columns, values)
