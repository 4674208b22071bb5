"""E-mail subscriptions (issue 15 §4, S45): reports sent on a schedule, each copy rendered for
its recipient.

- ``store``: the rows of ``sys_subscriptions`` — a user's own (``subscribe``, ``mine``,
  ``unsubscribe``), the unsubscribe link's token, and one row per recipient of each
  ``subscriptions:`` rule of the config (``sync_rules``);
- ``targets``: what can be subscribed to, one ``Target`` per kind (``RENDERERS``: ``report``,
  and ``dashboard`` from ``dashboard_target``), rendered as a ``Section`` of formatted tables
  for one reader;
- ``digest``: the e-mail (subject, text and HTML parts) of a section;
- ``sending``: ``send_due``, the worker's part — claim a due row with a conditional UPDATE,
  render as the recipient, enqueue in the outbox, or skip and say why;
- ``words``: schedules, filters and reasons as people read them.
"""

from engine.runtime.subscriptions import dashboard_target  # noqa: E402, F401 - registers the ``dashboard`` target
