"""Typed, path-aware reading of config.json: every error names the JSON field.

`Node(value, "linux.resources")` wraps one JSON value with its path; `fields`
refuses any member it is not told about, so a field this runtime does not know
(or knows and does not support) is never skipped without a word.
"""

from __future__ import annotations

from collections.abc import Iterable

from runtime.oci.errors import SpecError, unsupported


class Node:
    """One JSON value of config.json and where it is."""

    __slots__ = ("value", "path")

    def __init__(self, value: object, path: str) -> None:
        self.value = value
        self.path = path

    def _child(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def members(self) -> dict[str, object]:
        if not isinstance(self.value, dict):
            raise SpecError(self.path or "config.json", "must be an object")
        return self.value

    def fields(self, known: Iterable[str], refused: Iterable[str] = ()) -> None:
        """SpecError for a member that is refused (when not empty) or unknown."""
        members = self.members()
        known_set, refused_set = set(known), set(refused)
        for key, value in members.items():
            if key in refused_set:
                if value not in (None, "", [], {}, 0, False):
                    raise unsupported(self._child(key))
            elif key not in known_set:
                raise SpecError(self._child(key), "unknown field (refused rather than ignored)")

    def get(self, key: str) -> Node | None:
        value = self.members().get(key)
        return None if value is None else Node(value, self._child(key))

    def text(self) -> str:
        if not isinstance(self.value, str):
            raise SpecError(self.path, "must be a string")
        if "\n" in self.value or "\0" in self.value:
            raise SpecError(self.path, "must not contain a newline or NUL")
        return self.value

    def integer(self) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise SpecError(self.path, "must be an integer")
        return self.value

    def flag(self) -> bool:
        if not isinstance(self.value, bool):
            raise SpecError(self.path, "must be true or false")
        return self.value

    def items(self) -> list[Node]:
        if not isinstance(self.value, list):
            raise SpecError(self.path, "must be an array")
        return [Node(item, f"{self.path}[{i}]") for i, item in enumerate(self.value)]

    def strings(self) -> list[str]:
        return [item.text() for item in self.items()]

    def get_str(self, key: str, default: str | None = None) -> str | None:
        node = self.get(key)
        return default if node is None else node.text()

    def get_int(self, key: str) -> int | None:
        node = self.get(key)
        return None if node is None else node.integer()

    def get_bool(self, key: str) -> bool:
        node = self.get(key)
        return False if node is None else node.flag()
