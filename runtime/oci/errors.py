"""The one error of the OCI translation: a field of config.json that cannot be honoured."""

from __future__ import annotations


class SpecError(Exception):
    """`field` (a JSON path such as `linux.resources.memory.kernel`) and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def unsupported(field: str) -> SpecError:
    return SpecError(field, "not supported by trio-lxc-oci (refused rather than ignored)")
