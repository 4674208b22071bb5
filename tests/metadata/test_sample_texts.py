"""The samples' user-facing texts: no internal scenario ids, no stale stage names."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from engine.metadata import load_config
from engine.metadata.model import Label

pytestmark = pytest.mark.no_database

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SAMPLES = ["sample_saas.yaml", "sample_retail.yaml"]
SCENARIO_ID = re.compile(r"[(（]\s*S\d+|\bS\d{1,2}\b")


def user_texts(node: object, path: str = "", seen: set[int] | None = None) -> Iterator[tuple[str, str]]:
    """Every label, help, message and description in a compiled config, as (path, text)."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, Label):
        for language, text in node.texts.items():
            yield f"{path}[{language}]", text
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for item in dataclasses.fields(node):
            value = getattr(node, item.name)
            if item.name == "description" and isinstance(value, str):
                yield f"{path}.description", value
            else:
                yield from user_texts(value, f"{path}.{item.name}", seen)
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from user_texts(value, f"{path}.{key}", seen)
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from user_texts(value, f"{path}[{index}]", seen)


@pytest.mark.parametrize("sample", SAMPLES)
def test_no_scenario_ids_in_user_texts(sample: str) -> None:
    config = load_config(CONFIGS / sample)
    texts = list(user_texts(config))
    assert len(texts) > 200  # the walk reaches labels, help texts and messages
    leaks = [(where, text) for where, text in texts if SCENARIO_ID.search(text)]
    assert leaks == []


@pytest.mark.parametrize("sample", SAMPLES)
def test_stage_help_names_the_stage_of_this_sample(sample: str) -> None:
    """The help of a field a stage gate requires names the stage as this sample labels it."""
    config = load_config(CONFIGS / sample)
    deal = config.objects["opportunity"]
    stages = {stage.key: stage for stage in deal.pipeline.stages}
    for field, stage in (("needs_analysis", "solution_demo"), ("quote_file", "quote")):
        help_text = deal.fields[field].help
        for language in ("en", "zh"):
            assert stages[stage].label.get(language) in help_text.get(language), (field, language)
