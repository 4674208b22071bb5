"""The sample configs' own test suites (configs/tests/<sample>/*.yaml), run as CI runs them:
``trellis test CONFIG`` finds them next to the config, every case passes, none is lost.

Runs on a throw-away SQLite file (``trellis test``'s own sandbox), and with ``--db`` on
PostgreSQL when TRELLIS_TEST_DATABASE_URL is set (a schema of its own, dropped afterwards).
"""

from __future__ import annotations

import os
import re

import pytest
from click.testing import CliRunner

from engine.cli import main
from tests.conftest import CONFIGS


@pytest.mark.parametrize(("sample", "cases"), [("sample_saas", 20), ("sample_retail", 17)])
def test_the_samples_suite_passes(sample, cases):
    database = os.environ.get("TRELLIS_TEST_DATABASE_URL")
    result = CliRunner().invoke(
        main, ["test", str(CONFIGS / f"{sample}.yaml"), *(["--db", database] if database else [])]
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert len(re.findall(r"^PASS ", result.output, flags=re.MULTILINE)) == cases, result.output
    assert re.search(rf"^{cases} passed, 0 failed \(", result.output, flags=re.MULTILINE), result.output
