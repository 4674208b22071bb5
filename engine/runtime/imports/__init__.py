"""Import: CSV and Excel files into records, as a channel (``import``) of the one write path.

``reading`` opens a file (encoding and delimiter detected; xlsx streamed), ``mapping`` matches its
columns to fields (keys, labels in every language, a map), ``cells`` reads each cell as a person
means it (one ``CellType`` per field type), ``resolve`` finds the records lookups name and rows
match, ``jobs`` keeps each job and its failed rows in ``sys_import_jobs``/``sys_import_errors``,
``batch`` converts, resolves and writes one batch through the write path, ``runner`` checks,
starts and runs jobs batch by batch (resumable, dry runs rolled back) and
``errorfile`` writes a job's failed rows as a CSV file to fix and import again; ``preview`` takes
a first look at a file for a person mapping its columns (sample values, suggested fields, picklist
values that match no option).

For a caller that drives a job (the CLI, a web worker): ``start`` → ``run`` (all at once, or
``max_batches`` at a time) → ``status`` / ``failures`` / ``write_error_file``.
"""

from engine.runtime.imports.errorfile import write_error_file
from engine.runtime.imports.jobs import Counts, FailedRow, Job
from engine.runtime.imports.mapping import MapSpec
from engine.runtime.imports.preview import Preview, preview
from engine.runtime.imports.problems import ImportProblem
from engine.runtime.imports.runner import CHANNEL, ImportOptions, Progress, failures, run, start, status

__all__ = [
    "CHANNEL",
    "Counts",
    "FailedRow",
    "ImportOptions",
    "ImportProblem",
    "Job",
    "MapSpec",
    "Preview",
    "Progress",
    "failures",
    "preview",
    "run",
    "start",
    "status",
    "write_error_file",
]
