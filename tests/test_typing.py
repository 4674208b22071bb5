"""The type-checked part of the code stays clean under mypy.

``[tool.mypy]`` in pyproject.toml names the files (all of engine/: metadata, runtime, cli and
the ``Trellis`` facade) and the options; this test runs mypy on exactly that, so CI (which
runs pytest) fails on a new type error with mypy's report. mypy starts cold, its cache in a
temporary folder, so that a stale cache can never hide an error (about 15 s of CPU). The
types do not depend on the database: CI's PostgreSQL run leaves the check to its SQLite run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mypy import api

pytestmark = pytest.mark.no_database

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(
    bool(os.environ.get("TRELLIS_TEST_DATABASE_URL")),
    reason="no database involved: the types are checked once, in the SQLite run",
)
def test_mypy_is_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the config's `files` are relative to the working folder
    report, errors, status = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
        ]
    )
    assert status == 0 and report.startswith("Success:"), (
        f"mypy found problems (see [tool.mypy] in pyproject.toml):\n{report}{errors}"
    )
