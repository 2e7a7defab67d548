"""SQLite state shared by both APIs: in memory by default, a file under --data-dir to survive restarts.

One connection and one re-entrant lock: handlers are async and never await while holding it, so every
read-modify-write is atomic and concurrent requests can neither lose nor double an update. Transactions nest:
an inner `transaction()` is a savepoint of the outer one, so an operation and everything it causes (its log
entry, its postback, its idempotency record) commit together or not at all — a `kill -9` between two of them
cannot leave half an effect behind (issue 11, exactly-once across crashes).

At rest (issue 11): the directory is created 0700 and the database file (and SQLite's -wal/-shm files, which
take the database file's mode) 0600; the simulator never stores a card number, a CVV or a credential.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from types import TracebackType

_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
FILE_NAME = "simulator.sqlite3"
FILE_MODE = 0o600
DIR_MODE = 0o700


def _open_file(data_dir: Path) -> str:
    """The database file under `data_dir`, created 0600 in a directory created 0700. OSError says what failed
    (the CLI turns it into one line)."""
    if not data_dir.exists():
        data_dir.mkdir(parents=True, mode=DIR_MODE)
        os.chmod(data_dir, DIR_MODE)  # mkdir's mode is filtered by the umask; be exact
    target = data_dir / FILE_NAME
    os.close(os.open(target, os.O_CREAT | os.O_RDWR, FILE_MODE))
    for path in (target, data_dir / f"{FILE_NAME}-wal", data_dir / f"{FILE_NAME}-shm"):
        if path.exists():
            os.chmod(path, FILE_MODE)
    return str(target)


class Store:
    def __init__(self, data_dir: Path | None = None) -> None:
        target = _open_file(data_dir) if data_dir is not None else ":memory:"
        self.path = target
        self._lock = threading.RLock()
        self._depth = 0  # open transactions on this connection (nesting = savepoints)
        self._tables: list[str] = ["meta"]
        self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL" if data_dir else "PRAGMA journal_mode=MEMORY")
        if data_dir:
            # WAL + NORMAL: a committed transaction survives a crash of the process (kill -9); only a power
            # loss may lose the last ones. That is the durability a simulator needs.
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_META)

    def register_schema(self, ddl: str, tables: list[str]) -> None:
        """Each API module creates its own tables; `tables` are the ones `reset` empties."""
        with self._lock:
            self._conn.executescript(ddl)
            self._tables.extend(t for t in tables if t not in self._tables)

    def transaction(self) -> _Transaction:
        """One atomic unit; inside another transaction, a savepoint that commits with the outer one.

        Never await inside: the lock is per thread, and all requests share the event loop's thread."""
        return _Transaction(self)

    def read(self) -> _Read:
        return _Read(self)

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        """One statement under the lock: atomic by itself (SQLite rolls back a failing statement's changes), so
        it needs no transaction or savepoint of its own; inside a transaction it commits with it."""
        with self._lock:
            return self._conn.execute(sql, params)

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


# The context managers are classes rather than @contextmanager generators: a POST opens three nested
# transactions and a GET one read, and the generator machinery was a twentieth of a POST's time
# (benchmarks/README.md). Same statements, same lock, same order.

class _Transaction:
    __slots__ = ("_depth", "_store")

    def __init__(self, store: Store) -> None:
        self._store = store
        self._depth = 0

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        store._lock.acquire()
        try:
            depth = self._depth = store._depth
            store._conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT s{depth}")
        except BaseException:
            store._lock.release()
            raise
        store._depth = depth + 1
        return store._conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        store, depth = self._store, self._depth
        try:
            store._depth = depth
            if exc_type is None:
                store._conn.execute("COMMIT" if depth == 0 else f"RELEASE s{depth}")
            elif depth == 0:
                store._conn.execute("ROLLBACK")
            else:
                store._conn.execute(f"ROLLBACK TO s{depth}")
                store._conn.execute(f"RELEASE s{depth}")  # a savepoint rolled back to must still be released
        finally:
            store._lock.release()


class _Read:
    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        self._store._lock.acquire()
        return self._store._conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._store._lock.release()
