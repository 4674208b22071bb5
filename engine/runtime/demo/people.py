"""Made-up people for the demo data: Chinese and English names in turn."""

from __future__ import annotations

import random

SURNAMES_ZH = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙"]
GIVEN_ZH = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "杰", "婷", "强", "晓明", "丽华"]
FIRST_EN = ["Emma", "Liam", "Olivia", "Noah", "Ava", "Lucas", "Mia", "Ethan", "Sophia", "Mason"]
LAST_EN = ["Smith", "Chen", "Garcia", "Müller", "Johnson", "Tanaka", "Brown", "Wang", "Davis", "Martin"]


def person_parts(rng: random.Random, index: int) -> tuple[str, str]:
    """A (family name, given name) pair: Chinese for even ``index``, English for odd."""
    if index % 2 == 0:
        return rng.choice(SURNAMES_ZH), rng.choice(GIVEN_ZH)
    return rng.choice(LAST_EN), rng.choice(FIRST_EN)


def person_name(rng: random.Random, index: int) -> str:
    """A person's full name: Chinese ("王伟") or English ("Emma Smith") in turn."""
    last, first = person_parts(rng, index)
    return f"{last}{first}" if index % 2 == 0 else f"{first} {last}"
