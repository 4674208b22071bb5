"""Exports: a list of records as a file people read and a spreadsheet computes on (issue 13 §4).

``export_file`` (``export``) writes the records of a ``Query`` — the one read path, so the
caller's scope, filters and hidden fields apply — to a CSV or Excel file, a page at a time:
``source`` checks the ``export`` grant, streams the pages and writes the access log (S34);
``columns`` chooses the columns (the id, the fields the caller may see, owner and times) and
their headers (labels in the reader's language, and optionally a second row of field keys, so
that ``trellis import`` reads the file back unchanged); ``cells`` turns each value into a cell
as people read it (``records.present.ValueFormatter``: picklist labels, lookup titles, user
names, dates in ``settings.date_format`` and the company zone) — a number stays a number;
``writers`` holds one writer per file format (a registry). No Flask here: the CLI
(``trellis export``) and the web list's export both call ``export_file``.
"""
