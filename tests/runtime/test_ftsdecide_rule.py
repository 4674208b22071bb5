"""When SQLite's search index decides a search alone (``fulltext.decides``), proved against this
SQLite's own FTS5 folding.

The trigram MATCH finds what LIKE finds when, for every character of the text, the characters
FTS5 folds together with it are exactly those LIKE folds together with it (itself, and its
ASCII case partner). FTS5's folding is read from the library itself — the token FTS5 writes
for each code point of Unicode's planes 0 and 1, where every cased script is (planes 2–3 hold
CJK ideographs, 14 tags, 15–16 private use: none has case) — so a SQLite whose tables differ
fails here, not in a user's search.
"""

from __future__ import annotations

import sqlite3
import string

import pytest

from engine.runtime import fulltext

#: Code points read: Unicode's planes 0 and 1, without the surrogates (not characters).
CODE_POINTS = [c for c in range(1, 0x20000) if not 0xD800 <= c <= 0xDFFF]
CHUNK = 20_000


def fts5_folding() -> dict[str, str]:
    """Each character → the character FTS5's trigram tokenizer (``fulltext.TOKENIZER``) indexes
    it as: one document per CHUNK code points, each token's first character read back through
    ``fts5vocab`` at its position."""
    db = sqlite3.connect(":memory:")
    try:
        db.execute(f"CREATE VIRTUAL TABLE t USING fts5(a, tokenize='{fulltext.TOKENIZER}')")
        db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        for first in range(0, len(CODE_POINTS), CHUNK):
            text = "".join(chr(c) for c in CODE_POINTS[first : first + CHUNK]) + "  "  # each starts a trigram
            db.execute("INSERT INTO t (rowid, a) VALUES (?, ?)", (first, text))
        rows = db.execute("SELECT term, doc, offset FROM v").fetchall()
    finally:
        db.close()
    return {chr(CODE_POINTS[doc + at]): term[0] for term, doc, at in rows if at < CHUNK and doc + at < len(CODE_POINTS)}


def test_ftsdecide_rule_holds_for_this_sqlites_folding(db_url):
    if not db_url.startswith("sqlite") or not fulltext.supported():
        pytest.skip("SQLite's FTS5 folding; one run is enough")
    folding = fts5_folding()
    together: dict[str, set[str]] = {}
    for character, folded in folding.items():
        together.setdefault(folded, set()).add(character)
    assert len(folding) == len(CODE_POINTS)
    agreeing = [c for c in folding if fulltext._agrees(c)]
    like = sqlite3.connect(":memory:")
    try:
        for character in agreeing:  # every character FTS5 folds with it, LIKE finds for it too
            for other in together[folding[character]] - {character}:
                pattern = character.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                found = like.execute("SELECT ? LIKE ? ESCAPE '\\'", (other, pattern)).fetchone()[0]
                assert found == 1, (hex(ord(character)), hex(ord(other)))
    finally:
        like.close()
    # LIKE reads U+FFFE and U+FFFF as U+FFFD, as FTS5 does; else only ASCII letters have partners
    partners = {c for c in agreeing if len(together[folding[c]]) > 1}
    assert partners == set(string.ascii_letters) - set("kKsS") | {"\ufffd", "\ufffe", "\uffff"}
    # what the rule leaves out, and why: the two non-ASCII letters FTS5 folds into ASCII
    assert {c for c in folding if c >= "\x80" and folding[c] < "\x80"} == {"\u212a", "\u017f"}
    assert not any(fulltext._agrees(c) for c in "kKsSéÉßẞ\u212a\u017fＡａ")
    assert all(fulltext._agrees(c) for c in "globex 华为技术 0138-_%\"'ひらがなカタカナ한국어０１２")
    assert len(agreeing) > 100_000  # the rule keeps nearly every character
    assert fulltext.like_folds_ascii_only()
    assert fulltext.decides({"globex": ["name"], "13800138000": ["phone"]})
    assert not fulltext.decides({"globex": ["name"], "Straße": ["name"]})
