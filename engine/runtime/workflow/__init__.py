"""The business rules that run inside the write path or beside it: pipelines and stage gates,
approvals, assignment, scoring, conversion, the timeline of activities, automation rules and their
dry runs (``automation``, ``simulate``), over the trigger and action kinds (``triggers``,
``actions``: one registered object per kind) and one definition of what is due (``timed``).
"""
