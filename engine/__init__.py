"""Trellis: a metadata-driven CRM engine.

```python
from engine import Trellis
crm = Trellis.open("configs/sample_saas.yaml", "sqlite:///x.db")
crm.apply()
with crm.session(user=None) as s:
    rec = s.create("account", {"name": "Acme"})
```
"""

from __future__ import annotations

from typing import Any

#: Public names, imported lazily so that ``import engine.metadata`` stays free of
#: SQLAlchemy (the metadata layer must work without the runtime's libraries).
_EXPORTS = {
    "Trellis": "engine.trellis",
    "Session": "engine.runtime.records.session",
    "ConfigError": "engine.metadata.errors",
    "Conflict": "engine.runtime.errors",
    "NotFound": "engine.runtime.errors",
    "QueryError": "engine.runtime.errors",
    "UnknownObject": "engine.runtime.errors",
    "ValidationFailed": "engine.runtime.errors",
    "MigrationRefused": "engine.runtime.migrate",
    "DatabaseOutOfDate": "engine.runtime.migrate",
    "PermissionDenied": "engine.runtime.security.permissions",
    "UnknownUser": "engine.runtime.security.permissions",
    "AccountUnavailable": "engine.runtime.security.permissions",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
