"""What a request handler needs from the app: the ``Trellis`` bound to it by ``create_app``."""

from __future__ import annotations

from flask import current_app

from engine.trellis import Trellis


def get_trellis() -> Trellis:
    """The ``Trellis`` instance of the current app."""
    return current_app.extensions["trellis"]
