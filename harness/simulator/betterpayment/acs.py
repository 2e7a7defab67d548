"""The customer-facing pages: a 3DS challenge (ACS) and a bank approval page, as real HTML forms.

Why real forms: suites drive them with a browser-like helper (harness/threeds.py), exactly as a merchant's
front end would hand the customer over: `postForm` POSTs `creq` to /acs/challenge; `redirect` sends the browser
to /bank/<step>. The customer's choice (catalog `outcomes.pages`) finalizes the transaction, queues its
postback and redirects the browser (303) to the merchant's success_url or error_url. Submitting twice changes
nothing and redirects to the same place.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from harness.catalog.betterpayment import Page
from harness.simulator.betterpayment.context import Context
from harness.simulator.betterpayment.errors import BPError, error_page
from harness.simulator.betterpayment.money import as_text
from harness.simulator.betterpayment.operations import Operations
from harness.simulator.betterpayment.transactions import Transaction

_MAX_FORM_BYTES = 16384


class Pages:
    def __init__(self, ctx: Context, ops: Operations) -> None:
        self.ctx = ctx
        self.ops = ops

    async def _form(self, request: Request) -> dict[str, str]:
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > _MAX_FORM_BYTES:
                raise BPError("BP-ERR-218-TOO-LARGE", limit=_MAX_FORM_BYTES)
        try:
            return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            raise BPError("BP-ERR-205-INVALID-FIELDS", fields="form") from None

    def _method(self, request: Request, *allowed: str) -> None:
        if request.method not in allowed:
            raise BPError("BP-ERR-216-METHOD", headers={"Allow": ", ".join(allowed)}, method=request.method[:16],
                          path=request.url.path[:200])

    def _render(self, page: Page, tx: Transaction, action: str, hidden: dict[str, str]) -> HTMLResponse:
        cat = self.ctx.catalog
        card = (f"<p>Card: {escape(tx.card_brand or '')} {escape(tx.card_bin or '')}******"
                f"{escape(tx.card_last4 or '')}</p>") if tx.has_card else ""
        inputs = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in hidden.items())
        buttons = "".join(f'<button type="submit" name="decision" value="{escape(c.value)}">{escape(c.label)}</button>'
                          for c in page.choices)
        html = (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{escape(page.title)}</title></head><body>"
            f"<h1>{escape(page.title)}</h1>"
            f"<p>Merchant: {escape(cat.simulator.shop_name)}</p>"
            f"<p>Amount: {escape(as_text(tx.amount))} {escape(tx.currency)}</p>{card}"
            f'<form method="post" action="{escape(action)}">{inputs}{buttons}</form>'
            "</body></html>"
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    # --- 3DS challenge (postForm target) ---------------------------------------------------------------------

    async def challenge(self, request: Request) -> Response:
        try:
            self._method(request, "POST")
            form = await self._form(request)
            creq = form.get("creq", "")
            step_id = self.ops.step_from_creq(creq) if creq else None
            if not step_id:
                raise BPError("BP-ERR-205-INVALID-FIELDS", fields="creq")
            step, tx = self.ops.step(step_id, "acs")
            page = self.ctx.catalog.outcomes.pages["acs"]
            return self._render(page, tx, f"{page.path}/complete", {"step_id": step.id})
        except BPError as err:
            return error_page(self.ctx, err)

    async def challenge_complete(self, request: Request) -> Response:
        try:
            self._method(request, "POST")
            form = await self._form(request)
            target = self.ops.finish_step(form.get("step_id", ""), "acs", form.get("decision", ""))
            return RedirectResponse(target, status_code=303)
        except BPError as err:
            return error_page(self.ctx, err)

    # --- bank page (redirect target) --------------------------------------------------------------------------

    async def bank(self, request: Request) -> Response:
        step_id = str(request.path_params["step_id"])
        try:
            self._method(request, "GET", "POST")
            if request.method == "GET":
                step, tx = self.ops.step(step_id, "bank")
                page = self.ctx.catalog.outcomes.pages["bank"]
                return self._render(page, tx, f"{page.path}/{step.id}", {})
            form = await self._form(request)
            target = self.ops.finish_step(step_id, "bank", form.get("decision", ""))
            return RedirectResponse(target, status_code=303)
        except BPError as err:
            return error_page(self.ctx, err)

    def routes(self) -> list[BaseRoute]:
        pages = self.ctx.catalog.outcomes.pages
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return [
            Route(pages["acs"].path, self.challenge, methods=methods),
            Route(f"{pages['acs'].path}/complete", self.challenge_complete, methods=methods),
            Route(f"{pages['bank'].path}/{{step_id}}", self.bank, methods=methods),
        ]
