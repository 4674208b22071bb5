"""The matching methods of duplicate rules (``objects.<o>.duplicates[].match[].method``), one object each.

A method turns a stored value into its comparable form (``normalise``), into the blocking keys that
the write path stores in ``sys_dup_keys`` so that a check is a few indexed lookups
(``keys``), and scores two normalised values from 0 to 1 (``compare``). ``METHODS`` is the
registry (``kinds.Kinds``): the compiler checks a criterion's method and field type against it
(``fits``), the runtime (``engine.runtime.records.duplicates``) asks it for keys and scores.
Similarity comes from rapidfuzz; widths are folded with NFKC.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz

from engine.metadata.errors import Words
from engine.metadata.kinds import Kinds

if TYPE_CHECKING:
    from engine.metadata.model import DuplicateRule, FieldDef, MatchCriterion

#: The longest blocking key stored; longer values are cut (they still compare in full).
MAX_KEY = 120
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)
_SPACES = re.compile(r"\s+")


def fold(value: Any) -> str:
    """Width folded (NFKC: ``（上海）`` → ``(上海)``, ``ＡＢＣ`` → ``ABC``), lower-case, spaces collapsed."""
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    return _SPACES.sub(" ", text).strip()


def plain(value: Any) -> str:
    """``fold`` with punctuation removed (``Acme, Inc.`` → ``acme inc``)."""
    return _SPACES.sub(" ", _PUNCT.sub(" ", fold(value))).strip()


def tokens_and_bigrams(text: str) -> set[str]:
    """Blocking keys of a name: its Latin words (two letters or more) and the pairs of adjacent
    Chinese characters (a lone character when it stands alone)."""
    keys: set[str] = set()
    for word in text.split():
        cjk = "".join(_CJK.findall(word))
        if cjk:
            keys.update(cjk[i : i + 2] for i in range(max(len(cjk) - 1, 1)))
        rest = _CJK.sub(" ", word).split()
        keys.update(w for w in rest if len(w) >= 2)
    return keys


@dataclass(frozen=True)
class Method:
    """One matching method: what fields it fits, its normal form, its blocking keys and its score."""

    name: str
    #: What the method does, for docs and hints.
    description: str
    #: The field types it fits: ``fits(field)``.
    fits: Callable[[FieldDef], bool]
    #: Stored value → the comparable form ("" when nothing is left to compare).
    normalise: Callable[[Any], str]
    #: A normalised value → its blocking keys.
    block: Callable[[str], set[str]]
    #: Two normalised values → a similarity from 0 to 1.
    score: Callable[[str, str], float]
    #: The threshold when a criterion gives none; None: the method matches equal forms only and takes no threshold.
    default_threshold: float | None = None
    #: The field types it fits, in words, in every language (T-E162's message: ``.en``, ``.zh``).
    fits_words: Words = Words("text fields", "文本字段")

    def keys(self, value: Any) -> set[str]:
        """The blocking keys of a stored value (empty for an empty value)."""
        if value is None or value == "":
            return set()
        form = self.normalise(value)
        return {k[:MAX_KEY] for k in self.block(form)} if form else set()

    def compare(self, a: Any, b: Any) -> float:
        """The similarity of two stored values, 0 to 1 (0 when either is empty)."""
        if a is None or b is None or a == "" or b == "":
            return 0.0
        return self.compare_forms(self.normalise(a), self.normalise(b))

    def compare_forms(self, first: str, second: str) -> float:
        """The similarity of two values already ``normalise``d, 0 to 1 (0 when either is empty)."""
        if not first or not second:
            return 0.0
        return self.score(first, second)


def _equal(a: str, b: str) -> float:
    return 1.0 if a == b else 0.0


def _whole(form: str) -> set[str]:
    return {form}


def _scalar(field: FieldDef) -> bool:
    return not (field.kind.list_valued or field.kind.document)


def _textual(field: FieldDef) -> bool:
    return field.kind.text_match and not field.kind.list_valued


# --- phone and e-mail ----------------------------------------------------------------------------------------
def _phone(value: Any) -> str:
    """The phone field stores E.164 (``+8613800138000``); any other text keeps its digits and a leading +."""
    text = str(value).strip()
    digits = re.sub(r"\D", "", text)
    return ("+" if text.startswith("+") else "") + digits if digits else ""


#: Providers that deliver ``name+tag@`` to ``name@`` (the tag is dropped before comparing).
PLUS_TAG_DOMAINS = frozenset(
    {"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "icloud.com", "me.com", "fastmail.com"}
)


def _email(value: Any) -> str:
    """Lower-case; ``+tag`` removed for providers that ignore it (and gmail's dots)."""
    text = str(value).strip().lower()
    local, at, domain = text.rpartition("@")
    if not at:
        return text
    if domain in PLUS_TAG_DOMAINS:
        local = local.split("+", 1)[0]
        if domain in {"gmail.com", "googlemail.com"}:
            local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


# --- people's names --------------------------------------------------------------------------------------------
def _person(value: Any) -> str:
    """Chinese names without spaces (``张 伟`` → ``张伟``); Western names as sorted words, so that
    ``Smith, John`` and ``John Smith`` are one form."""
    text = plain(value)
    if _CJK.search(text):
        return text.replace(" ", "")
    return " ".join(sorted(text.split()))


def _person_keys(form: str) -> set[str]:
    if _CJK.search(form):
        return {form} | ({form[:2], form[-2:]} if len(form) > 2 else set())
    return {w for w in form.split() if len(w) >= 2}


def _ratio(a: str, b: str) -> float:
    return fuzz.ratio(a, b) / 100


# --- company names ------------------------------------------------------------------------------------------------
#: Legal forms, group words and generic descriptors removed from company names (lower-case, folded).
COMPANY_WORDS_ZH = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "分公司",
    "公司",
    "集团",
    "控股",
    "科技",
    "技术",
    "信息",
    "网络",
    "实业",
    "贸易",
    "发展",
)
COMPANY_WORDS_EN = frozenset(
    [
        "co",
        "company",
        "corp",
        "corporation",
        "inc",
        "incorporated",
        "ltd",
        "limited",
        "llc",
        "plc",
        "gmbh",
        "ag",
        "sa",
        "sas",
        "srl",
        "bv",
        "nv",
        "kk",
        "pte",
        "pty",
        "group",
        "holding",
        "holdings",
        "technology",
        "technologies",
        "tech",
    ]
)
#: Region words removed when they stand in brackets anywhere, or lead the name.
REGIONS_ZH = (
    "北京",
    "上海",
    "天津",
    "重庆",
    "深圳",
    "广州",
    "杭州",
    "南京",
    "苏州",
    "成都",
    "武汉",
    "西安",
    "香港",
    "中国",
    "广东",
    "江苏",
    "浙江",
    "山东",
)
_BRACKETED = re.compile(r"\([^()]*\)")


def _company(value: Any) -> str:
    """Width folded; bracketed parts (``(上海)``), a leading region, legal forms and generic words
    removed; the folded name itself when nothing would be left."""
    text = fold(value)
    stripped = _BRACKETED.sub(" ", text)
    for region in REGIONS_ZH:
        if stripped.lstrip().startswith(region):
            stripped = stripped.lstrip()[len(region) :]
            break
    for word in COMPANY_WORDS_ZH:
        stripped = stripped.replace(word, " ")
    words = [w for w in plain(stripped).split() if w not in COMPANY_WORDS_EN]
    cjk = [w for w in words if _CJK.search(w)]
    form = ("".join(cjk) + " " + " ".join(w for w in words if not _CJK.search(w))).strip()
    return form or plain(text)


def _token_set(a: str, b: str) -> float:
    """Latin text: rapidfuzz's token set ratio (word order and repeated words do not count).
    Chinese text: the overlap (Dice) of adjacent character pairs, so that one changed character
    in a short name (附属中学 / 附属小学) costs two pairs, not one letter of many."""
    if _CJK.search(a) or _CJK.search(b):
        first, second = a.replace(" ", ""), b.replace(" ", "")
        if min(len(first), len(second)) < 3:
            return fuzz.ratio(first, second) / 100
        pairs_a = {first[i : i + 2] for i in range(len(first) - 1)}
        pairs_b = {second[i : i + 2] for i in range(len(second) - 1)}
        return 2 * len(pairs_a & pairs_b) / (len(pairs_a) + len(pairs_b))
    return fuzz.token_set_ratio(a, b) / 100


def rule_match(
    rule: DuplicateRule,
    criteria: Iterable[MatchCriterion],
    similarity: Callable[[MatchCriterion], float],
) -> tuple[float, tuple[tuple[MatchCriterion, float], ...]] | None:
    """Whether two records match by ``rule``, scored on ``criteria`` (the rule's, or those a reader
    may use) with ``similarity(criterion)`` → 0..1: with ``any`` one criterion at its threshold is
    enough and the score is the best; else every one must hold and the score is the lowest.
    Returns the score and the criteria that matched with theirs, or None. The write path's check
    and the finder (``engine.runtime.records.finder``) both judge a pair by it."""
    matched = []
    for criterion in criteria:
        score = similarity(criterion)
        threshold = criterion.threshold
        if score >= (threshold if threshold is not None else METHODS[criterion.method].default_threshold or 1.0):
            matched.append((criterion, score))
        elif not rule.any:
            return None
    if not matched:
        return None
    scores = [score for _, score in matched]
    return (max(scores) if rule.any else min(scores)), tuple(matched)


METHODS: Kinds[Method] = Kinds("matching method")

for _method in (
    Method(
        "exact",
        "the stored values are equal",
        _scalar,
        lambda v: str(v),
        _whole,
        _equal,
        fits_words=Words("fields holding one value", "只保存一个值的字段"),
    ),
    Method(
        "normalized",
        "equal after folding case, full/half width, spaces and punctuation",
        _textual,
        lambda v: plain(v).replace(" ", ""),
        _whole,
        _equal,
    ),
    Method(
        "phone",
        "the same E.164 number",
        lambda f: f.kind.phone_number,
        _phone,
        _whole,
        _equal,
        None,
        Words("phone fields", "电话字段"),
    ),
    Method(
        "email",
        "the same address, lower-case, +tag removed for providers that ignore it",
        lambda f: f.kind.mail_address and not f.kind.list_valued,
        _email,
        _whole,
        _equal,
        None,
        Words("email fields", "电子邮件字段"),
    ),
    Method(
        "person_name",
        "similar people's names: Chinese without spaces, Western words in either order",
        _textual,
        _person,
        _person_keys,
        _ratio,
        0.9,
    ),
    Method(
        "company_name",
        "similar company names once legal forms, region words and generic words are removed",
        _textual,
        _company,
        tokens_and_bigrams,
        _token_set,
        0.88,
    ),
    Method(
        "fuzzy",
        "similar text (rapidfuzz token similarity)",
        _textual,
        plain,
        tokens_and_bigrams,
        _token_set,
        0.85,
    ),
):
    METHODS.register(_method)
