"""Errors a user can act on.

Every failure that reaches a user must name the file, the problem and the fix; a Python traceback is a bug.
Library code raises :class:`UserFacingError`; the CLI and the service render it in their own words.

The same core runs behind the command line and the web pages, so a fix has two forms: ``fix`` says what to
do in words any interface can show ("choose another reader"), and ``cli_fix``, when the action has a flag,
says it the command line's way ("pass --interface NAME"). A web page never shows a flag. The reader's own
message, when there was one, goes to ``details`` (technical details), never into the problem sentence.
"""

from __future__ import annotations

from pathlib import Path


class UserFacingError(Exception):
    """A problem with the user's input or environment, explained in plain language."""

    def __init__(
        self,
        problem: str,
        *,
        fix: str,
        path: str | Path | None = None,
        code: str = "error",
        details: str | None = None,
        cli_fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.fix = fix
        self.path = str(path) if path is not None else None
        self.code = code
        self.details = details
        self.cli_fix = cli_fix
        super().__init__(self.paragraph())

    def paragraph(self, *, cli: bool = False) -> str:
        """One paragraph: where, what, and the fix (the command-line form when ``cli``)."""
        where = f"{self.path}: " if self.path else ""
        fix = self.cli_fix if cli and self.cli_fix else self.fix
        return f"{where}{self.problem} Fix: {fix}"

    def to_dict(self) -> dict[str, str | None]:
        return {
            "error": self.code,
            "path": self.path,
            "message": self.problem,
            "hint": self.fix,
            "details": self.details,
        }


def internal_error(exc: BaseException) -> UserFacingError:
    """A bug or an unexpected crash inside a library, said without its text: that goes to ``details``."""
    return UserFacingError(
        "Something went wrong inside nwbagent during this step; this is a bug, not a problem with your data.",
        fix="Try the step again; if it fails again, report it with the technical details.",
        code="internal_error",
        details=" ".join(f"{type(exc).__name__}: {exc}".split())[:2000],
    )
