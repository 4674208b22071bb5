"""People's names: split one into family and given name, and join the two in the name's order.

A name with a space and Latin letters is in Western order ("Wei Zhang": given "Wei",
family "Zhang"; "Zhang, Wei" with a comma puts the family name first). A Chinese name
is written family name first without a space (张伟: family 张, given 伟), and the family
name is two characters when it is one of ``COMPOUND_SURNAMES`` (欧阳娜娜: family 欧阳).
``full_name`` joins them back: "Wei Zhang" with a space, "张伟" without. These are the
expression functions ``family_name``, ``given_name`` and ``full_name``.
"""

from __future__ import annotations

import re

#: Two-character Chinese family names (复姓) that ``family_name`` keeps together.
COMPOUND_SURNAMES = frozenset(
    {
        "欧阳",
        "司马",
        "诸葛",
        "上官",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "司空",
        "夏侯",
        "轩辕",
        "令狐",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "百里",
        "呼延",
        "万俟",
        "闻人",
        "澹台",
        "公冶",
        "太史",
        "申屠",
        "赫连",
        "钟离",
        "宗政",
        "濮阳",
        "淳于",
        "单于",
        "仲孙",
        "拓跋",
        "第五",
        "东郭",
        "左丘",
    }
)

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


def is_cjk(text: str) -> bool:
    """Whether ``text`` is written in Chinese characters (no Latin letters)."""
    return bool(_CJK.search(text)) and not _LATIN.search(text)


def split_name(name: str | None) -> tuple[str | None, str | None]:
    """``(family, given)`` of a person's name written in one field; ``(None, None)`` for none."""
    text = " ".join((name or "").split())
    if not text:
        return None, None
    if "," in text:  # "Zhang, Wei": family name first, by the comma
        family, given = (part.strip() for part in text.split(",", 1))
        return family or None, given or None
    if is_cjk(text):
        compact = text.replace(" ", "").replace("·", "")
        size = 2 if compact[:2] in COMPOUND_SURNAMES and len(compact) > 2 else 1
        return compact[:size], compact[size:] or None
    if " " in text:  # Western order: the last word is the family name
        given, family = text.rsplit(" ", 1)
        return family, given
    return text, None


def full_name(given: str | None, family: str | None) -> str:
    """The name in its own order: "Wei Zhang" (with a space) or "张伟" (family first, no space)."""
    given, family = (given or "").strip(), (family or "").strip()
    if is_cjk(given + family):
        return family + given
    return " ".join(part for part in (given, family) if part)
