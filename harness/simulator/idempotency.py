"""Idempotency-key replay shared by both APIs.

A response is stored per (API, credential, endpoint, key) for the retention the catalog gives, on the simulator
clock. What `should_store` rejects (validation failures) is not kept, so the client may fix the request and
reuse the key.

Exactly once, also across a crash (issue 11): the stored answer commits in the same SQLite transaction as the
effect it reports, never after it. Two ways:

- `run_atomic` (Better Payment: its operations are synchronous) runs the operation inside one transaction and
  adds the answer to it;
- `run` (BetterCharge: an operation may await the simulated PSP) lets the operation call `record(conn,
  answer)` inside its own effect transaction; an answer that took no effect is stored after the handler.

Concurrency: a duplicate arriving while the first is still running waits for it and then gets the stored
answer, so concurrent duplicates create exactly one payment; it waits at most `claim_timeout` seconds and then
gets the API's `busy` answer (409, as the IETF idempotency draft says; see each API's docs). Bodies are read in
full at the edge before any key is claimed (edge.py), so a stalled upload never holds a key.

At rest, card-number-like digit runs in a stored answer are masked (an answer may echo free text a merchant
sent; replays show the masked form).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass

from starlette.responses import Response

from harness.simulator.clock import Clock
from harness.simulator.privacy import mask_pans
from harness.simulator.store import Store

_DDL = """
CREATE TABLE IF NOT EXISTS idempotency (
    api TEXT NOT NULL, scope TEXT NOT NULL, key TEXT NOT NULL,
    stored_at REAL NOT NULL, status INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (api, scope, key)
)
"""
REPLAY_HEADER = "Idempotent-Replayed"
DEFAULT_CLAIM_TIMEOUT = 30.0
# Headers of the first answer that belong to the stored result; rate-limit headers are per request.
_KEPT_HEADERS = ("content-type", "location")

Ident = tuple[str, str, str]


@dataclass(frozen=True, kw_only=True)
class Keyed:
    """What identifies a stored answer and how long it is kept: both APIs' requests are keyed the same way.

    `endpoint` (method and path) is part of the identity: a key reused on another operation must not replay that
    operation's answer. No `key`: the request is not idempotent and nothing is stored."""

    api: str
    scope: str
    key: str | None
    endpoint: str = ""
    retention: float

    def ident(self) -> Ident | None:
        if not self.key:
            return None
        return self.api, self.scope, f"{self.endpoint} {self.key}" if self.endpoint else self.key


@dataclass
class _Claim:
    ident: Ident
    should_store: Callable[[Response], bool]
    recorded: bool = False


_current: ContextVar[_Claim | None] = ContextVar("paycert_idempotency_claim", default=None)


class IdempotencyCache:
    def __init__(self, store: Store, clock: Clock, *, claim_timeout: float = DEFAULT_CLAIM_TIMEOUT) -> None:
        self._store = store
        self._clock = clock
        self._claim_timeout = claim_timeout
        self._inflight: dict[Ident, asyncio.Future[None]] = {}
        store.register_schema(_DDL, ["idempotency"])

    def _lookup(self, conn: sqlite3.Connection, ident: Ident, retention: float) -> Response | None:
        row = conn.execute(
            "SELECT stored_at, status, headers, body FROM idempotency WHERE api=? AND scope=? AND key=?", ident
        ).fetchone()
        if row is None or self._clock.now() - row["stored_at"] >= retention:
            return None
        headers = json.loads(row["headers"])
        headers[REPLAY_HEADER] = "true"
        return Response(content=bytes(row["body"]), status_code=row["status"], headers=headers)

    def _insert(self, conn: sqlite3.Connection, ident: Ident, response: Response) -> None:
        body = bytes(response.body)
        with contextlib.suppress(UnicodeDecodeError):  # not text: nothing a merchant typed
            body = mask_pans(body.decode("utf-8"), word_bounded=True).encode("utf-8")
        headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
        conn.execute("INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (*ident, self._clock.now(), response.status_code, json.dumps(headers), body))

    def record(self, conn: sqlite3.Connection, response: Response) -> None:
        """Inside the caller's effect transaction: store the answer of the request being served with it.

        A no-op outside `run` (no key) or for an answer `should_store` rejects; `run` then stores nothing more."""
        claim = _current.get()
        if claim is None or claim.recorded or not claim.should_store(response):
            return
        self._insert(conn, claim.ident, response)
        claim.recorded = True

    async def run(self, keyed: Keyed, *, handler: Callable[[], Awaitable[Response]],
                  should_store: Callable[[Response], bool], busy: Callable[[], Response]) -> Response:
        """Answer from the cache when the key was seen within its retention, else run `handler` once.

        `busy` answers a duplicate that waited `claim_timeout` in vain.
        """
        ident = keyed.ident()
        if ident is None:
            return await handler()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._claim_timeout
        while ident in self._inflight:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return busy()
            try:
                await asyncio.wait_for(asyncio.shield(self._inflight[ident]), remaining)
            except TimeoutError:
                return busy()
        with self._store.read() as conn:
            cached = self._lookup(conn, ident, keyed.retention)
        if cached is not None:
            return cached
        done: asyncio.Future[None] = loop.create_future()
        self._inflight[ident] = done
        claim = _Claim(ident, should_store)
        token = _current.set(claim)
        try:
            response = await handler()
            if not claim.recorded and should_store(response):
                with self._store.transaction() as conn:
                    self._insert(conn, ident, response)
            return response
        finally:
            _current.reset(token)
            del self._inflight[ident]
            done.set_result(None)

    def run_atomic(self, keyed: Keyed, *, work: Callable[[], Response],
                   should_store: Callable[[Response], bool]) -> Response:
        """Like `run` for a synchronous operation: the replay check, the operation's every write and its stored
        answer are one transaction (with or without a key: an effect never commits in parts)."""
        ident = keyed.ident()
        with self._store.transaction() as conn:
            if ident is not None:
                cached = self._lookup(conn, ident, keyed.retention)
                if cached is not None:
                    return cached
            response = work()
            if ident is not None and should_store(response):
                self._insert(conn, ident, response)
        return response
