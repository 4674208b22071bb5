"""Config tests (``trellis test``, issue 17 §1): YAML cases a consultant writes next to a config,
run against a throw-away database through the engine's own write path.

- ``model``: the typed cases (``Suite``, ``Case``, ``Step``, ``Given``);
- ``loading``: finding test files (``discover``), checking them against
  ``engine/metadata/test_schema.json`` and the config (codes T-T001…, ``file:line:column``);
- ``sandbox``: the throw-away database, applied once per run, a fresh copy per case;
- ``given``: users, records and the clock a case starts from;
- ``steps``: one ``StepKind`` per step (``STEPS``: create, update, move, delete, approve, reject,
  convert, worker, clock, import);
- ``expectations``: one ``Expectation`` per key of ``expect:`` (``EXPECTATIONS``);
- ``running``: runs the cases (``run_suite``) into ``CaseResult``s; ``junit``: JUnit XML;
  ``words``: the runner's sentences in English and Chinese.
"""

from __future__ import annotations
