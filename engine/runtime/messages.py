"""The engine's words for people, in every language Trellis speaks, keyed by a stable code.

``MESSAGES`` maps a code (the ``code`` of a ``FieldError``, or a text the engine writes
itself, such as ``value.yes``) to a text per language with ``{name}`` parameters.
``message(code, language, **params)`` fills one in. The web UI and the API translate an
engine error by its code and parameters (``FieldError.params``), so a user reads it in
their language; ``tests/runtime/test_messages.py`` checks that every code raised
anywhere has a text in every language.
"""

from __future__ import annotations

#: Languages the engine's messages are written in.
LANGUAGES = ("en", "zh")

MESSAGES: dict[str, dict[str, str]] = {
    # --- values as people read them ---
    "value.yes": {"en": "Yes", "zh": "是"},
    "value.no": {"en": "No", "zh": "否"},
}


def message(code: str, language: str, /, **params: object) -> str:
    """The text of ``code`` in ``language`` (English when that is missing), parameters filled in;
    the code itself when the catalogue has no such text."""
    texts = MESSAGES.get(code)
    if texts is None:
        return code
    text = texts.get(language.split("_")[0]) or texts["en"]
    try:
        return text.format(**params) if params else text
    except (KeyError, IndexError, ValueError):
        return text
