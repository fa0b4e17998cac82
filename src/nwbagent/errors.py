"""Errors a user can act on.

Every failure that reaches a user must name the file, the problem and the fix; a Python traceback is a bug.
Library code raises :class:`UserFacingError`; the CLI (and later the service) renders it as one paragraph.
"""

from __future__ import annotations

from pathlib import Path


class UserFacingError(Exception):
    """A problem with the user's input or environment, explained in plain language."""

    def __init__(
        self, problem: str, *, fix: str, path: str | Path | None = None, code: str = "error"
    ) -> None:
        self.problem = problem
        self.fix = fix
        self.path = str(path) if path is not None else None
        self.code = code
        super().__init__(self.paragraph())

    def paragraph(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{where}{self.problem} Fix: {self.fix}"

    def to_dict(self) -> dict[str, str | None]:
        return {"error": self.code, "path": self.path, "message": self.problem, "hint": self.fix}
