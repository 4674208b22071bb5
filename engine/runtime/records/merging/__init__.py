"""Merging duplicate records (issue 14 §4) and undoing a merge.

``values`` chooses the value of each field that survives (a person's choice, the field's
``merge: {keep: …}``, else the survivor's or the first non-empty); ``moves`` re-points what
pointed at the merged records — lookups of every object, approvals, notifications, files,
stage history, automation run keys — and records each move so that it can be put back;
``merge`` runs a merge and an un-merge through the write path (``Session.update`` for the
survivor, so its gates, approval locks and validation hold) and keeps them in ``sys_merges``.
"""
