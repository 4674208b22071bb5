"""The same config texts compile once per process (engine.metadata's cache): the compiled
Config is shared, its source path is the one asked for, and a changed file or template
compiles again."""

from __future__ import annotations

import pytest

from engine.metadata import ConfigError, load_config, load_config_text

pytestmark = pytest.mark.no_database

CONFIG = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text, required: true}
roles:
  admin: {objects: {"*": {read: all}}}
"""

OVERLAY = """
extends: base.yaml
objects:
  lead:
    fields:
      city: {type: text}
"""


def test_the_same_text_compiles_once_wherever_it_lies(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "config.yaml").write_text(CONFIG)
    (tmp_path / "b" / "config.yaml").write_text(CONFIG)
    first = load_config(tmp_path / "a" / "config.yaml")
    again = load_config(tmp_path / "a" / "config.yaml")
    other = load_config(tmp_path / "b" / "config.yaml")
    assert again is first
    assert other.objects is first.objects
    assert other.source_path == str(tmp_path / "b" / "config.yaml")
    assert first.source_path == str(tmp_path / "a" / "config.yaml")
    stored = load_config_text(first.source_text, name="stored.yaml")
    assert stored.source_path == "stored.yaml" and stored.content_hash == first.content_hash


def test_a_changed_file_compiles_again(write_config):
    path = write_config(CONFIG)
    before = load_config(path)
    path.write_text(CONFIG.replace("required: true", "required: false"))
    after = load_config(path)
    assert before.objects["lead"].fields["name"].required is True
    assert after.objects["lead"].fields["name"].required is False


def test_a_changed_template_compiles_again(tmp_path):
    for folder, base in (("one", CONFIG), ("two", CONFIG.replace("name:", "phone:"))):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "base.yaml").write_text(base)
        (tmp_path / folder / "config.yaml").write_text(OVERLAY)
    one = load_config(tmp_path / "one" / "config.yaml")
    two = load_config(tmp_path / "two" / "config.yaml")  # same text, another template beside it
    assert set(one.objects["lead"].fields) == {"name", "city"}
    assert set(two.objects["lead"].fields) == {"phone", "city"}
    (tmp_path / "one" / "base.yaml").write_text(CONFIG.replace("name:", "title:"))
    assert set(load_config(tmp_path / "one" / "config.yaml").objects["lead"].fields) == {"title", "city"}


def test_errors_are_found_again_each_time(write_config):
    path = write_config(CONFIG + "  nobody: {objects: {lead: {read: everything}}}\n")
    for _ in range(2):
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        assert str(path) in str(caught.value)
