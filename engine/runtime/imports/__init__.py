"""Import: CSV and Excel files into records, as a channel (``import``) of the one write path.

``reading`` opens a file (encoding and delimiter detected; xlsx streamed), ``mapping`` matches its
columns to fields (keys, labels in every language, a map), ``cells`` reads each cell as a person
means it (one ``CellType`` per field type), ``resolve`` finds the records lookups name and rows
match, ``jobs`` keeps each job and its failed rows in ``sys_import_jobs``/``sys_import_errors``,
``batch`` converts, resolves and writes one batch through the write path, ``runner`` checks,
starts and runs jobs batch by batch (resumable, dry runs rolled back) and
``errorfile`` writes a job's failed rows as a CSV file to fix and import again; ``queue`` runs the
jobs of the web wizard and the API in ``trellis worker`` (``live`` holds a running dry run's progress);
``preview`` takes a first look at a file for a person mapping its columns (sample values, suggested
fields, picklist values that match no option).

For a caller that drives a job (the CLI): ``start`` → ``run`` (all at once, or ``max_batches`` at
a time) → ``status`` / ``failures`` / ``write_error_file``. The web and the API ``start(queue=True)``
and leave the running to ``work`` (the worker); ``cancel`` stops a job, ``recent`` lists them.
"""

from engine.runtime.imports.errorfile import write_error_file
from engine.runtime.imports.jobs import Counts, FailedRow, Job
from engine.runtime.imports.mapping import MapSpec
from engine.runtime.imports.preview import Preview, preview
from engine.runtime.imports.problems import ImportProblem
from engine.runtime.imports.queue import remove_abandoned_uploads, work
from engine.runtime.imports.runner import (
    CHANNEL,
    QUEUED_BATCH,
    ImportOptions,
    Progress,
    cancel,
    failures,
    recent,
    run,
    start,
    status,
    visible_to,
)

__all__ = [
    "remove_abandoned_uploads",
    "CHANNEL",
    "QUEUED_BATCH",
    "Counts",
    "FailedRow",
    "ImportOptions",
    "ImportProblem",
    "Job",
    "MapSpec",
    "Preview",
    "Progress",
    "cancel",
    "failures",
    "preview",
    "recent",
    "run",
    "start",
    "status",
    "visible_to",
    "work",
    "write_error_file",
]
