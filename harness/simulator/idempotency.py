"""Idempotency-key replay shared by both APIs.

A response is stored per (API, credential, endpoint, key) for the retention the catalog gives, on the simulator clock.
A duplicate arriving while the first is still running waits for it and then gets the stored answer, so
concurrent duplicates create exactly one payment. What `should_store` rejects (validation failures) is not
kept, so the client may fix the request and reuse the key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from harness.simulator.clock import Clock
from harness.simulator.store import Store

_DDL = """
CREATE TABLE IF NOT EXISTS idempotency (
    api TEXT NOT NULL, scope TEXT NOT NULL, key TEXT NOT NULL,
    stored_at REAL NOT NULL, status INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (api, scope, key)
)
"""
REPLAY_HEADER = "Idempotent-Replayed"
# Headers of the first answer that belong to the stored result; rate-limit headers are per request.
_KEPT_HEADERS = ("content-type", "location")


class IdempotencyCache:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._inflight: dict[tuple[str, str, str], asyncio.Future[None]] = {}
        store.register_schema(_DDL, ["idempotency"])

    def _lookup(self, ident: tuple[str, str, str], retention: float) -> Response | None:
        with self._store.read() as conn:
            row = conn.execute(
                "SELECT stored_at, status, headers, body FROM idempotency WHERE api=? AND scope=? AND key=?", ident
            ).fetchone()
        if row is None or self._clock.now() - row["stored_at"] >= retention:
            return None
        headers = json.loads(row["headers"])
        headers[REPLAY_HEADER] = "true"
        return Response(content=bytes(row["body"]), status_code=row["status"], headers=headers)

    async def run(
        self,
        *,
        api: str,
        scope: str,
        key: str | None,
        endpoint: str = "",
        retention: float,
        handler: Callable[[], Awaitable[Response]],
        should_store: Callable[[Response], bool],
    ) -> Response:
        """Answer from the cache when the key was seen within `retention`, else run `handler` once.

        `endpoint` (method and path) is part of the identity: a key reused on another operation must not
        replay that operation's answer.
        """
        if not key:
            return await handler()
        ident = (api, scope, f"{endpoint} {key}" if endpoint else key)
        while ident in self._inflight:
            await asyncio.shield(self._inflight[ident])
        cached = self._lookup(ident, retention)
        if cached is not None:
            return cached
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[ident] = done
        try:
            response = await handler()
            if should_store(response):
                body = bytes(response.body)
                headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
                with self._store.transaction() as conn:
                    conn.execute(
                        "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (*ident, self._clock.now(), response.status_code, json.dumps(headers), body),
                    )
            return response
        finally:
            del self._inflight[ident]
            done.set_result(None)
