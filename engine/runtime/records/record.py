"""The ``Record`` value returned by reads and writes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class Record(Mapping[str, Any]):
    """One record of an object: ``rec.id``, ``rec.version``, ``rec["field"]``.

    Holds the system columns and the fields the caller may see. Read-only: change
    a record through ``Session.update``.
    """

    __slots__ = ("object", "_values", "pending_approval")

    def __init__(self, object_name: str, values: Mapping[str, Any], pending_approval: Any = None) -> None:
        self.object = object_name
        self._values = dict(values)
        #: The approval request a write created instead of changing the record (``engine.runtime.workflow.approvals``).
        self.pending_approval = pending_approval

    @property
    def id(self) -> int:
        """The record's id."""
        return self._values["id"]

    @property
    def version(self) -> int:
        """The optimistic-lock version; pass it to ``update`` to detect concurrent edits."""
        return self._values["version"]

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise KeyError(f"{self.object} has no field {key!r}") from None

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, else ``default`` (a dict's ``get``: lists read every cell this way)."""
        return self._values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def to_dict(self) -> dict[str, Any]:
        """A plain copy of the values."""
        return dict(self._values)

    def __repr__(self) -> str:
        return f"<Record {self.object} {self._values.get('id')} v{self._values.get('version')}>"
