"""The data dictionary a consultant hands to the customer (``trellis docs``, issue 17 §4, S2).

``build_dictionary`` turns a compiled ``Config`` into a ``Document`` in one language
(``document.py``: objects, fields, picklists, stages and gates, roles, approvals, assignment,
automation and reports; rules said in sentences by ``sentences.py``, words in ``words.py``);
``RENDERERS`` write it as Markdown or HTML (``render.py``). Pure Python, like the rest of
``engine.metadata``.
"""

from __future__ import annotations

from engine.metadata.dictionary.document import Document, build_dictionary, default_language
from engine.metadata.dictionary.render import RENDERERS
from engine.metadata.dictionary.words import LANGUAGES

__all__ = ["LANGUAGES", "RENDERERS", "Document", "build_dictionary", "default_language"]
