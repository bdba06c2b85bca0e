"""Errors that say which file, row and column are at fault, what was expected, and what to do."""

from __future__ import annotations

import os


class DataError(ValueError):
    """Raised for any input that breaks the data contract."""

    def __init__(
        self,
        file: str | os.PathLike,
        problem: str,
        *,
        row: int | None = None,
        column: str | None = None,
        expected: object | None = None,
        found: object | None = None,
        hint: str | None = None,
    ) -> None:
        self.file, self.row, self.column = str(file), row, column
        where = [str(file)]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        msg = ", ".join(where) + f": {problem}"
        if expected is not None or found is not None:
            msg += f" (expected {expected}, found {found})"
        if hint:
            msg += f". {hint}"
        super().__init__(msg)
