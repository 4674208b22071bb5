"""The business rules that run inside the write path or beside it: pipelines and stage gates,
approvals, assignment, scoring, conversion, the timeline of activities, automation rules and their
dry runs.
"""
