"""The /rest endpoints: authentication, content type, body limits, idempotency, then the operation.

Order of checks for a POST (each answers a catalog error body): method (216), Basic auth (201), Content-Type
(202), idempotency-key header (205), body size (218), then inside the idempotency wrapper: JSON (203) and the
operation's own validation. Validation failures (400/413/415) are never stored under an idempotency key;
processing results (2xx, 404, 422) are, so a retry with the same key replays them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from harness.simulator import body
from harness.simulator.betterpayment import defects
from harness.simulator.betterpayment.context import Context
from harness.simulator.betterpayment.errors import BPError, error_json, stored_under_idempotency
from harness.simulator.betterpayment.operations import Operations
from harness.simulator.betterpayment.postbacks import Dispatcher
from harness.simulator.betterpayment.validation import validate_create, validate_follow_up
from harness.simulator.idempotency import Keyed

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_MAX_PATH_IN_MESSAGE = 200
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9/_.\-]*\Z", re.ASCII)

Work = Callable[[str, dict[str, Any], str], Any]


class Api:
    def __init__(self, ctx: Context, ops: Operations, dispatcher: Dispatcher) -> None:
        self.ctx = ctx
        self.ops = ops
        self.dispatcher = dispatcher
        self._base_urls: dict[tuple[Any, ...], str] = {}

    # --- request plumbing ----------------------------------------------------------------------------------

    def _method(self, request: Request, allowed: str) -> None:
        if request.method != allowed:
            raise BPError("BP-ERR-216-METHOD", headers={"Allow": allowed}, method=request.method[:16],
                          path=request.url.path[:_MAX_PATH_IN_MESSAGE])

    def _auth(self, request: Request) -> str:
        """The API key of valid Basic credentials; 401 otherwise. The password is compared, never kept."""
        failed = BPError("BP-ERR-201-AUTH")
        header = request.headers.get("authorization", "")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "basic" or not token or len(token) > 1024:
            raise failed
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise failed from None
        api_key, sep, password = decoded.partition(":")
        if not sep or api_key not in self.ctx.credentials:
            raise failed
        if not (self.ctx.defect(defects.AUTH_ANY_PASSWORD) or self.ctx.password_ok(api_key, password)):
            raise failed
        return api_key

    def _content_type(self, request: Request) -> None:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != self.ctx.catalog.auth.content_type:
            raise BPError("BP-ERR-202-CONTENT-TYPE")

    def _idempotency_key(self, request: Request) -> str | None:
        idem = self.ctx.catalog.idempotency
        names = sorted(idem.headers, key=lambda h: h != idem.precedence)
        if self.ctx.defect(defects.IDEM_IGNORES_X_HEADER):
            names = [n for n in names if n.lower() != "x-idempotency-key"]
        for name in names:
            value = request.headers.get(name)
            if value is None:
                continue
            value = value.strip()
            longest = self.ctx.catalog.simulator.max_idempotency_key_length + self.ctx.shift("idem_key_length")
            if not value or len(value) > longest \
                    or not value.isprintable():
                raise BPError("BP-ERR-205-INVALID-FIELDS", fields=name)
            return value
        return None

    async def _body(self, request: Request) -> bytes:
        limit = self.ctx.catalog.simulator.max_body_bytes + self.ctx.shift("body_size")
        try:
            return await body.read(request, limit)
        except body.BodyError as exc:
            if exc.kind == body.TOO_LARGE:
                raise BPError("BP-ERR-218-TOO-LARGE", limit=limit) from None
            raise BPError("BP-ERR-203-MALFORMED-JSON") from None  # the body did not arrive in time

    @staticmethod
    def _json(raw: bytes) -> dict[str, Any]:
        """Strict JSON at the edge (body.py): a bad value is an invalid field, anything else malformed JSON."""
        try:
            return body.json_object(raw, empty_ok=False)
        except body.BodyError as exc:
            if exc.kind == body.BAD_VALUE and exc.field:
                raise BPError("BP-ERR-205-INVALID-FIELDS", fields=exc.field[:64]) from None
            raise BPError("BP-ERR-203-MALFORMED-JSON") from None

    @staticmethod
    def _clean(fields: dict[str, Any]) -> dict[str, Any]:
        """Form fields pass the edge's string rules too (no control character, body.py)."""
        try:
            body.check_value(fields)
        except body.BodyError as exc:
            raise BPError("BP-ERR-205-INVALID-FIELDS", fields=(exc.field or "form")[:64]) from None
        return fields

    @staticmethod
    def _path(request: Request) -> str:
        """request.url.path, which Starlette gets by building the whole URL and splitting it again: a path of
        letters, digits and /_.- (every API path) comes out as it went in."""
        path: str = request.scope["path"]
        return path if _PLAIN_PATH.match(path) else request.url.path

    def _base_url(self, request: Request) -> str:
        """The URL the simulator's pages are reached under, as the client named it. Starlette derives it from the
        scheme, the server address, the Host header and the root path (starlette/requests.py `base_url`), a
        twentieth of a POST's time; it is kept per combination of those (a handful on one simulator)."""
        scope = request.scope
        host = next((value for name, value in scope["headers"] if name == b"host"), None)
        server = scope.get("server")
        root = scope.get("app_root_path", scope.get("root_path", ""))
        key = (scope.get("scheme"), tuple(server) if server else None, host, root)
        url = self._base_urls.get(key)
        if url is None:
            if len(self._base_urls) >= 64:  # any number of Host headers may arrive; keep the memo small
                self._base_urls.clear()
            url = self._base_urls[key] = str(request.base_url).rstrip("/")
        return url

    def _is_legacy(self, request: Request) -> bool:
        """A request in the older docs' checksum form: no Authorization header, a form-encoded body."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        return "authorization" not in request.headers and media == self.ctx.catalog.legacy_auth.content_type

    def _legacy_auth(self, raw: bytes) -> tuple[str, dict[str, Any]]:
        """(API key, fields) of a legacy request whose last field `checksum` is SHA-1(query + API password)."""
        legacy = self.ctx.catalog.legacy_auth
        failed = BPError("BP-ERR-201-AUTH")
        if self.ctx.defect(defects.LEGACY_AUTH_REFUSED):
            raise failed
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise failed from None
        head, sep, given = text.rpartition(f"&{legacy.checksum_field}=")
        if not sep or "&" in given or not given:
            raise failed
        try:
            fields = dict(parse_qsl(head, keep_blank_values=True, strict_parsing=True))
        except ValueError:
            raise failed from None
        api_key = fields.pop(legacy.key_field, "")
        password = self.ctx.credentials.get(api_key)
        if password is None:
            raise failed
        expected = hashlib.sha1((head + password).encode("utf-8")).hexdigest()
        if not (hmac.compare_digest(expected, unquote_plus(given).strip().lower())
                or self.ctx.defect(defects.LEGACY_CHECKSUM_IGNORED)):
            raise failed
        return api_key, fields

    async def _post(self, request: Request, work: Work) -> Response:
        self.dispatcher.ensure_running()
        form: dict[str, Any] | None = None
        try:
            self._method(request, "POST")
            legacy = self._is_legacy(request)
            scope = "" if legacy else self._auth(request)
            if not legacy:
                self._content_type(request)
            key = self._idempotency_key(request)
            raw = await self._body(request)
            if legacy:
                scope, form = self._legacy_auth(raw)
        except BPError as err:
            return error_json(self.ctx, err)
        base_url = self._base_url(request)
        outcome = {"store": True}

        def handler() -> Response:
            try:
                fields = self.ctx.shim_fields(self._clean(form) if form is not None else self._json(raw),
                                              lambda name: BPError("BP-ERR-205-INVALID-FIELDS", fields=name))
                return JSONResponse(work(scope, fields, base_url))
            except BPError as err:
                outcome["store"] = stored_under_idempotency(self.ctx, err)
                return error_json(self.ctx, err)

        # The operation, its postback and its stored answer commit in one transaction (exactly once).
        idem = self.ctx.catalog.idempotency
        keyed = Keyed(
            api=self.ctx.catalog.api,
            scope="*" if self.ctx.defect(defects.IDEM_SHARED_SCOPE) else scope,
            key=key,
            endpoint=f"{request.method} {self._path(request)}",
            retention=1e15 if self.ctx.defect(defects.IDEM_NEVER_EXPIRES) else (
                idem.retention_seconds + self.ctx.shift("idem_retention")),
        )
        return self.ctx.state.idempotency.run_atomic(
            keyed, work=handler, should_store=lambda r: outcome["store"] and r.status_code < 500)

    async def _get(self, request: Request, work: Callable[[str, str], Any]) -> Response:
        self.dispatcher.ensure_running()
        try:
            self._method(request, "GET")
            scope = self._auth(request)
            return JSONResponse(work(scope, str(request.path_params["transaction_id"])))
        except BPError as err:
            return error_json(self.ctx, err)

    # --- endpoints ------------------------------------------------------------------------------------------

    def _create(self, operation: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self._post(
                request, lambda scope, body, base: self.ops.create(scope, validate_create(self.ctx, body, operation),
                                                                   base))
        return endpoint

    def _follow_up(self, operation: str) -> Callable[[Request], Awaitable[Response]]:
        method = getattr(self.ops, operation)

        async def endpoint(request: Request) -> Response:
            return await self._post(
                request, lambda scope, body, _base: method(scope, validate_follow_up(self.ctx, body, operation)))
        return endpoint

    async def _transaction(self, request: Request) -> Response:
        return await self._get(request, self.ops.transaction_view)

    async def _log(self, request: Request) -> Response:
        return await self._get(request, self.ops.log_view)

    async def _refunds(self, request: Request) -> Response:
        return await self._get(request, self.ops.refunds_view)

    async def _apple_pay_merchant(self, request: Request) -> Response:
        """Apple Pay merchant validation: an Apple Pay merchant session for the shop's host, base64 in
        applepay_payment_session_token (catalog apple_pay). The session is the simulator's own, unsigned."""
        cat = self.ctx.catalog
        facts = cat.apple_pay
        try:
            if self.ctx.defect(defects.APPLEPAY_VALIDATION_MISSING):
                raise BPError("BP-ERR-217-ENDPOINT", path=request.url.path[:_MAX_PATH_IN_MESSAGE])
            self._method(request, facts.method)
            scope = self._auth(request)
            self._content_type(request)
            body = self._json(await self._body(request))
            host = body.get(facts.request_field)
            if host is None or (isinstance(host, str) and not host.strip()):
                raise BPError("BP-ERR-204-MISSING-FIELDS", fields=facts.request_field)
            if not isinstance(host, str) or len(host) > 253 or not _HOST.match(host.strip()):
                raise BPError("BP-ERR-205-INVALID-FIELDS", fields=facts.request_field)
        except BPError as err:
            return error_json(self.ctx, err)
        now_ms = int(time.time() * 1000)
        session = {
            "epochTimestamp": now_ms, "expiresAt": now_ms + 300_000,
            "merchantSessionIdentifier": f"SSH{secrets.token_hex(16).upper()}", "nonce": secrets.token_hex(4),
            "merchantIdentifier": hashlib.sha256(scope.encode()).hexdigest().upper(),
            "domainName": host.strip().lower(), "displayName": cat.simulator.shop_name,
            "signature": secrets.token_hex(64),
        }
        token = base64.b64encode(json.dumps({k: session[k] for k in facts.session_fields}).encode()).decode()
        return JSONResponse({facts.response_field: token})

    async def _unknown(self, request: Request) -> Response:
        return error_json(self.ctx, BPError("BP-ERR-217-ENDPOINT", path=request.url.path[:_MAX_PATH_IN_MESSAGE]))

    def routes(self) -> list[BaseRoute]:
        cat = self.ctx.catalog
        paths = {o.name: o.path for o in cat.operations}
        return [
            *(Route(paths[op], self._create(op), methods=ALL_METHODS) for op in ("payment", "authorize", "register")),
            *(Route(paths[op], self._follow_up(op), methods=ALL_METHODS) for op in ("capture", "reverse", "refund")),
            Route(paths["get_transaction"], self._transaction, methods=ALL_METHODS),
            Route(paths["get_log"], self._log, methods=ALL_METHODS),
            Route(paths["get_refunds"], self._refunds, methods=ALL_METHODS),
            Route(cat.apple_pay.path, self._apple_pay_merchant, methods=ALL_METHODS),
            Route("/rest", self._unknown, methods=ALL_METHODS),
            Route("/rest/{rest:path}", self._unknown, methods=ALL_METHODS),
        ]
