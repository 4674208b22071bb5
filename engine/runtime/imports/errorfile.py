"""The error file of an import: its failed rows, as they were, with one more column saying why.

It is a CSV file in UTF-8 with a BOM (Excel opens it with the Chinese intact) with the original
header row (and keys row, for a file exported with ``--keys``) plus the error column (``Import
error`` / ``导入错误``). A user fixes the rows in Excel and imports the file again: the error column
is recognised and left out.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from engine.runtime.imports import jobs
from engine.runtime.imports.problems import say

if TYPE_CHECKING:
    from engine.runtime.context import Runtime


def write_error_file(crm: Runtime, job_id: int, path: str | Path) -> int:
    """Write job ``job_id``'s failed rows to ``path``; returns how many rows it holds."""
    with crm.engine.connect() as connection:
        job = jobs.load(connection, crm.schema, job_id)
    headers = list(job.options.get("headers") or [])
    count = 0
    with Path(path).open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*headers, say("import.error_column")])
        if job.options.get("keys"):
            writer.writerow([*job.options["keys"], ""])
        for failure in jobs.all_failures(crm.engine, crm.schema, job_id):
            cells = ["" if c is None else c for c in failure.cells]
            cells = (cells + [""] * len(headers))[: max(len(headers), len(cells))]
            writer.writerow([*cells, failure.error])
            count += 1
    return count
