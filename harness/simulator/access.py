"""The simulator's access log for `paycert simulate`: one line per answer, written by the edge (edge.py).

Why not uvicorn's own access log: it goes through `logging` for every request (a LogRecord, the masking filter,
uvicorn's AccessFormatter copying the record, a StreamHandler flush), and a py-spy profile of the simulator under
`benchmarks/simulator_throughput.py` put that at a tenth of a POST's time and a sixth of a GET's. This writes the
same line uvicorn's default configuration writes (uvicorn/config.py LOGGING_CONFIG, uvicorn/logging.py
AccessFormatter, without the colours): level, client address, request line, status and phrase, to the same
stream (standard output), with card numbers masked as everywhere else (privacy.py). Lines are buffered and the
stream is flushed once per turn of the event loop, so a burst of answers costs one write, and a quiet simulator
shows each line at once.
"""

from __future__ import annotations

import asyncio
import http
import sys
from typing import TextIO
from urllib.parse import quote

from starlette.types import Scope

from harness.simulator.privacy import mask_pans

_PREFIX = "INFO:     "  # uvicorn's levelprefix for INFO: the level name, a colon, padded to nine characters


def _status(code: int) -> str:
    try:
        return f"{code} {http.HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} "


_STATUS = {code: _status(code) for code in range(100, 600)}


class AccessLog:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._flush_pending = False

    def __call__(self, scope: Scope, status: int) -> None:
        client = scope.get("client")
        path = quote(scope["path"])
        query = scope.get("query_string")
        if query:
            path = f"{path}?{query.decode('ascii', errors='backslashreplace')}"
        addr = f"{client[0]}:{int(client[1])}" if client else ""
        line = (f'{_PREFIX}{addr} - "{scope["method"]} {path} '
                f'HTTP/{scope["http_version"]}" {_STATUS.get(status) or _status(status)}\n')
        stream = self._stream or sys.stdout
        stream.write(mask_pans(line))
        if not self._flush_pending:
            self._flush_pending = True
            try:
                asyncio.get_running_loop().call_soon(self._flush, stream)
            except RuntimeError:  # no event loop (a direct call): flush now
                self._flush(stream)

    def _flush(self, stream: TextIO) -> None:
        self._flush_pending = False
        stream.flush()
