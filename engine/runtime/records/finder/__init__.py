"""The duplicate finder (issue 14 §3): existing records scanned for duplicates, in groups with scores.

- ``scan``: one rule over an object — candidate pairs from the blocking keys the write path keeps
  (``sys_dup_keys``; oversized blocks skipped and counted), scored like the write path's check
  (``engine.metadata.matching.rule_match``), joined into groups;
- ``store``: the groups, their members and pairs, and the pairs dismissed as "not a duplicate";
- ``runs``: the runs in ``sys_dup_runs`` — queued from the web and leased by ``trellis worker``;
- ``finding``: ``find`` (``trellis duplicates find``), ``queue`` and ``work`` (the worker's part);
- ``groups``: a page of groups as one user may see them, and dismissing.
"""
