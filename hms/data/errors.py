"""Errors that say which file, row and column are at fault, what was expected, and what to do."""

from __future__ import annotations

import contextlib
import contextvars
import os
from pathlib import Path
from typing import Iterator


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
        self.problem, self.expected, self.found, self.hint = problem, expected, found, hint
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

    def with_note(self, note: str) -> "DataError":
        """The same error with `note` added after its hint (e.g. what was kept on disk)."""
        hint = f"{self.hint}. {note}" if self.hint else note
        return DataError(self.file, self.problem, row=self.row, column=self.column, expected=self.expected,
                         found=self.found, hint=hint)


# Where the data directory came from, for hints: a stage reads it from params.yaml, the CLI from
# an argument. The CLI sets this around a command; stages keep the default.
_DATA_DIR_ORIGIN: contextvars.ContextVar[str] = contextvars.ContextVar("data_dir_origin", default="data.dir in params.yaml")


@contextlib.contextmanager
def data_dir_origin(origin: str) -> Iterator[None]:
    """Inside the block, hints say the data directory was given by `origin` (e.g. '--data-dir')."""
    token = _DATA_DIR_ORIGIN.set(origin)
    try:
        yield
    finally:
        _DATA_DIR_ORIGIN.reset(token)


def data_dir_hint(root: str | os.PathLike) -> str:
    """'check --data-dir (it points to data/x); ...' for the caller's origin of the data directory."""
    return f"check {_DATA_DIR_ORIGIN.get()} (it points to {Path(root)}); the directory must hold the Kaggle layout (README)"
