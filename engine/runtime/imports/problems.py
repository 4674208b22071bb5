"""What an import tells its user: problems that stop it (``ImportProblem``) and the words it
uses, all by stable code from ``engine.runtime.messages`` in the language the engine speaks."""

from __future__ import annotations

from engine.metadata.model import Label
from engine.runtime.errors import TrellisError
from engine.runtime.messages import current_language, message


def label(text: Label) -> str:
    """A configured label in the current language."""
    return text.get(current_language())


def say(code: str, /, **params: object) -> str:
    """The text of ``code`` (``import.…``) in the current language, parameters filled in."""
    return message(code, current_language(), **params)


#: The stable code of the problems of a file's columns, a map and constants, listed all at once.
MAPPING_PROBLEMS = "bad_mapping"


class ImportProblem(TrellisError):
    """An import cannot start or go on (a file it cannot read, a column it cannot map, an option
    that does not fit); ``lines`` says every problem found, each a sentence for people. ``code`` is
    stable: the message's code without ``import.`` (``no_sheet``, ``bad_xlsx``…), or
    ``MAPPING_PROBLEMS`` for the lines of a map."""

    code = MAPPING_PROBLEMS  # each problem sets its own, below

    def __init__(self, code: str | None = None, /, lines: list[str] | None = None, **params: object) -> None:
        self.lines = list(lines or []) + ([say(code, **params)] if code else [])
        self.problem = code
        self.code = code.removeprefix("import.") if code else MAPPING_PROBLEMS
        super().__init__("\n".join(self.lines))
