"""SQLite state shared by both APIs: in memory by default, a file under --data-dir to survive restarts.

One connection and one re-entrant lock: handlers are async and never await while holding it, so every
read-modify-write is atomic and concurrent requests can neither lose nor double an update.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


class Store:
    def __init__(self, data_dir: Path | None = None) -> None:
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            target = str(data_dir / "simulator.sqlite3")
        else:
            target = ":memory:"
        self.path = target
        self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._tables: list[str] = ["meta"]
        self._conn.execute("PRAGMA journal_mode=WAL" if data_dir else "PRAGMA journal_mode=MEMORY")
        self._conn.execute(_META)

    def register_schema(self, ddl: str, tables: list[str]) -> None:
        """Each API module creates its own tables; `tables` are the ones `reset` empties."""
        with self._lock:
            self._conn.executescript(ddl)
            self._tables.extend(t for t in tables if t not in self._tables)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def get_meta(self, key: str, default: str) -> str:
        with self.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                         (key, value, value))

    def reset(self) -> None:
        with self.transaction() as conn:
            for table in self._tables:
                conn.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
