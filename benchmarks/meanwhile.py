"""A user writing while something else runs (an apply, a build): one write every 10 ms, each in
its own transaction on a connection of its own, and the longest of them — what a user saving a
record waited meanwhile. Used by benchmarks/apply_search_index.py and benchmarks/scale_10m.py."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa

#: Seconds between two writes.
PAUSE = 0.01


class Meanwhile:
    """Runs ``write(connection, n)`` (n = 0, 1, 2 …) every ``PAUSE`` seconds in a thread while the
    ``with`` block runs; ``longest`` is the slowest write, in seconds."""

    def __init__(self, engine: sa.Engine, write: Callable[[sa.Connection, int], object]) -> None:
        self.engine, self.write, self.longest = engine, write, 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        with self.engine.connect() as conn:
            for n in itertools.count():
                if self.stop.is_set():
                    return
                start = time.perf_counter()
                with conn.begin():
                    self.write(conn, n)
                self.longest = max(self.longest, time.perf_counter() - start)
                time.sleep(PAUSE)

    def __enter__(self) -> Meanwhile:
        self.thread.start()
        time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
