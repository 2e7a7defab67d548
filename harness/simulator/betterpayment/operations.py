"""What each Better Payment operation does to a transaction, and the response body it answers.

Payment, authorize and register share one path: the flow of the payment type (catalog `payment_types.flow`)
decides whether the result is final at once (own-MPI card, card present, recurring charge) or waits for a
customer step on the simulator's ACS page (3DS, `postForm`) or bank page (`redirect`). Outcomes come from
the catalog's test-data conventions (`outcomes`), never from literals here. Every final status change queues
a postback in the same store transaction (an effect and its notification commit together).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import string
import uuid
from datetime import UTC, datetime
from typing import Any

from harness.simulator.betterpayment import defects
from harness.simulator.betterpayment import transactions as repo
from harness.simulator.betterpayment.cards import brand_of
from harness.simulator.betterpayment.context import Context
from harness.simulator.betterpayment.errors import BPError
from harness.simulator.betterpayment.money import as_number, as_text
from harness.simulator.betterpayment.postbacks import Dispatcher, refund_fields, transaction_fields
from harness.simulator.betterpayment.transactions import Step, Transaction
from harness.simulator.betterpayment.validation import CreateRequest, FollowUpRequest
from harness.simulator.privacy import mask_pans

_ALPHANUM = string.ascii_letters + string.digits


# byte -> _ALPHANUM[byte % 62], as a translate table: one C call per token rather than a generator.
_TOKEN_TABLE = bytes(ord(_ALPHANUM[b % len(_ALPHANUM)]) for b in range(256))


def _token(n: int) -> str:
    # One urandom call instead of n secrets.choice calls (a hot path: every payment); 256 % 62 bias is fine
    # for a test id.
    return secrets.token_bytes(n).translate(_TOKEN_TABLE).decode("ascii")


def _uuid4() -> str:
    """str(uuid.uuid4()) without the UUID object (its checks and int conversions were ~3% of a POST): 16 random
    bytes with the version (4) and variant (RFC 4122) bits set, in the 8-4-4-4-12 hex form."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _stored_text(value: Any) -> Any:
    """Free text as the simulator keeps it: card numbers masked (harness/simulator/privacy.py)."""
    return mask_pans(value) if isinstance(value, str) else value


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Operations:
    def __init__(self, ctx: Context, dispatcher: Dispatcher) -> None:
        self.ctx = ctx
        self.postbacks = dispatcher
        repo.install(ctx.state.store)

    # --- helpers -------------------------------------------------------------------------------------------

    def _code(self, name: str) -> int:
        return self.ctx.catalog.status_named(name).code

    def _now(self) -> float:
        return self.ctx.state.clock.now()

    def _not_found(self, transaction_id: str) -> BPError:
        return BPError("BP-ERR-207-UNKNOWN-TRANSACTION", transaction_id=transaction_id[:64])

    def _not_allowed(self, operation: str, tx: Transaction) -> BPError:
        return BPError("BP-ERR-210-STATUS", operation=operation, status=self.ctx.catalog.status(tx.status_code).name)

    def _brand(self, pan: str) -> str:
        """brand_of for the catalog's brands, kept per leading digits: brand_of only compares the PAN's first
        len(prefix) digits, so the head as long as the longest prefix decides it (a scan of every brand's
        prefixes per card payment, otherwise)."""
        brands = self.ctx.catalog.card_brands
        longest = self.ctx.memo.get("brand-head")
        if longest is None:
            longest = self.ctx.memo["brand-head"] = max(
                (len(p.partition("-")[0]) for b in brands for p in b.prefixes), default=0)
        memo: dict[str, str] = self.ctx.memo.setdefault("brands", {})
        head = pan[:longest]
        brand = memo.get(head)
        if brand is None:
            if len(memo) >= 4096:
                memo.clear()
            brand = memo[head] = brand_of(head, brands)
        return brand

    def _money_on_success(self, operation: str, amount: int) -> dict[str, int]:
        if operation == "payment":
            return {"authorized": amount, "captured": amount}
        if operation == "authorize":
            return {"authorized": amount, "captured": 0}
        return {"authorized": 0, "captured": 0}

    def _notify(self, tx: Transaction, pan: str | None = None) -> None:
        if not tx.postback_url:
            return  # a wallet payment sent without postback_url (catalog BP-LENIENT-WALLET-NO-POSTBACK-URL)
        try:
            kind, fields = transaction_fields(self.ctx, tx)
        except KeyError:
            return  # a status without a postback layout (started, pending, refunded)
        self.postbacks.send(tx.id, kind, tx.postback_url, fields, pan=pan)

    def _amount_value(self, cents: int) -> float | str:
        return as_text(cents) if self.ctx.defect(defects.SCHEMA_AMOUNT_STRING) else as_number(cents)

    # --- payment / authorize / register ----------------------------------------------------------------------

    def create(self, scope: str, req: CreateRequest, base_url: str) -> dict[str, Any]:
        ctx, cat = self.ctx, self.ctx.catalog
        pt, f, op = req.payment_type, req.fields, req.operation
        now = self._now()
        card: dict[str, Any] = {}
        if req.card is not None:
            pan = req.card.pan
            card = {"card_bin": pan[:6], "card_last4": pan[-4:], "card_brand": self._brand(pan),
                    "card_expiry_month": req.card.expiry_month, "card_expiry_year": req.card.expiry_year}
        planned = cat.outcomes.for_holder(req.card.holder) if req.card is not None else None

        if req.original_transaction_id is not None:
            with ctx.state.store.read() as conn:
                original = repo.get(conn, req.original_transaction_id, scope)
            if original is None:
                raise self._not_found(req.original_transaction_id)
            usable = {self._code(n) for n in ("completed", "refunded", "authorized", "registered")}
            if not original.has_card or original.status_code not in usable:
                raise BPError("BP-ERR-214-ORIGINAL-UNUSABLE", transaction_id=original.id,
                              status=cat.status(original.status_code).name)
            if original.payment_type != pt.name:
                raise BPError("BP-ERR-205-INVALID-FIELDS", fields="payment_type")
            card = {k: getattr(original, k) for k in
                    ("card_bin", "card_last4", "card_brand", "card_expiry_month", "card_expiry_year")}
            mode, message_key = "final", "recurring"
        elif pt.flow == "direct":
            mode, message_key = "final", "direct"
        elif pt.flow in ("synchronous", "wallet"):
            mode, message_key = "final", pt.flow
        elif pt.flow == "threeds":
            direct = req.own_mpi and not ctx.defect(defects.THREEDS_DIRECT_IGNORED)
            mode, message_key = ("final", "threeds") if direct else ("acs", "threeds")
        else:
            mode, message_key = "bank", "redirect"

        money = {"authorized": 0, "captured": 0}
        reason: str | None = None
        message: str | None
        if mode == "final":
            if planned is not None:
                status, reason, message = planned.status_code, planned.reason_code, planned.message
            else:
                status, message = cat.outcomes.success_status[op], cat.outcomes.success_messages.get(message_key)  # type: ignore[index]
                money = self._money_on_success(op, req.amount)
                if pt.flow in ("synchronous", "wallet") and req.original_transaction_id is None:
                    # The type's own first status: invoice and SEPA are authorized and captured later.
                    status = cat.status_named(pt.status_path[0]).code
                    if ctx.defect(defects.SYNC_NEEDS_REDIRECT) and pt.flow == "synchronous":
                        mode, status = "bank", cat.outcomes.step_status["redirect"]
                    captured = req.amount if status == self._code("completed") else 0
                    money = {"authorized": req.amount, "captured": captured}
        else:
            status, message = cat.outcomes.step_status["threeds" if mode == "acs" else "redirect"], None

        wero = pt.name == "wero"
        tx = Transaction(
            id=_uuid4(), scope=scope, operation=op, payment_type=pt.name, flow=pt.flow,
            order_id=str(f["order_id"]), amount=req.amount, currency=req.currency,
            merchant_reference=mask_pans(str(f.get("merchant_reference")
                                             or f"{f['order_id']} - {cat.simulator.shop_name}")),
            additional_transaction_data=_stored_text(f.get("additional_transaction_data")),
            postback_url=str(f.get("postback_url") or ""), success_url=f.get("success_url"),
            error_url=f.get("error_url"),
            status_code=status, message=message, reason_code=reason,
            authorized=money["authorized"], captured=money["captured"], reversed=0, refunded=0,
            card_bin=card.get("card_bin"), card_last4=card.get("card_last4"), card_brand=card.get("card_brand"),
            card_expiry_month=card.get("card_expiry_month"), card_expiry_year=card.get("card_expiry_year"),
            original_transaction_id=req.original_transaction_id, recurring=int(req.recurring),
            wallet_activity_reference=f"WAR{secrets.token_hex(6)}" if wero else "",
            wallet_account_reference=f"WAC{_token(9)}" if wero else "",
            payer_location="DE" if wero else "",
            external_transaction_id=_token(22),
            created_at=now, updated_at=now,
        )
        step: Step | None = None
        if mode in ("acs", "bank"):
            step = Step(id=_uuid4(), transaction_id=tx.id, page=mode,
                        planned_status=planned.status_code if planned else None,
                        planned_reason=planned.reason_code if planned else None,
                        planned_message=planned.message if planned else None, choice=None, created_at=now)
        with ctx.state.store.transaction() as conn:
            repo.insert(conn, tx)
            repo.add_log(conn, tx.id, op, status, req.amount, now)
            if step is not None:
                repo.add_step(conn, step)
        if mode == "final":
            self._notify(tx, pan=req.card.pan if req.card else None)

        body = self.payment_response(tx)
        if f.get("additional_transaction_data") is not None:  # the documented echo, as sent (stored masked)
            body["additional_transaction_data"] = f["additional_transaction_data"]
        if step is not None and step.page == "acs":
            if not ctx.defect(defects.THREEDS_NO_CLIENT_ACTION):
                body["client_action"] = cat.client_action("postForm").name
                body["action_data"] = {"url": base_url + cat.outcomes.pages["acs"].path,
                                       "fields": {"creq": self._creq(step.id)}}
        elif step is not None:
            body["client_action"] = cat.client_action("redirect").name
            body["action_data"] = {"url": f"{base_url}{cat.outcomes.pages['bank'].path}/{step.id}"}
        if req.card is not None and ctx.defect(defects.PAN_LEAK_RESPONSE):
            body["card_number"] = req.card.pan
        return body

    def _creq(self, step_id: str) -> str:
        """An EMV 3DS CReq (base64url JSON, no padding) whose acsTransID names the step."""
        creq = {"threeDSServerTransID": str(uuid.uuid4()), "acsTransID": step_id, "messageType": "CReq",
                "messageVersion": "2.2.0", "challengeWindowSize": "05"}
        return base64.urlsafe_b64encode(json.dumps(creq).encode()).decode().rstrip("=")

    @staticmethod
    def step_from_creq(creq: str) -> str | None:
        """The step id inside a CReq, or None when it is not one of ours."""
        try:
            padded = creq + "=" * (-len(creq) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        except (ValueError, UnicodeError):
            return None
        value = data.get("acsTransID") if isinstance(data, dict) else None
        return value if isinstance(value, str) and len(value) <= 64 else None

    def payment_response(self, tx: Transaction) -> dict[str, Any]:
        """The seed's payment response shape (000 §4), with the status as the API reports it."""
        cat = self.ctx.catalog
        code, name = self.ctx.status_pair(tx.status_code)
        atd: str | None = tx.additional_transaction_data
        if atd is None and cat.status(tx.status_code).final:
            atd = ""  # as the seed's direct response shows; its pending response shows null
        body: dict[str, Any] = {
            "transaction_id": tx.id, "payment_type": tx.payment_type, "status_code": code, "status": name,
            "order_id": tx.order_id, "message": tx.message, "additional_transaction_data": atd,
            "amount": self._amount_value(tx.amount), "included_fees": cat.included_fees, "error_code": 0,
        }
        if self.ctx.defect(defects.SCHEMA_TRANSACTION_ID):
            body = {("id" if k == "transaction_id" else k): v for k, v in body.items()}
        return body

    # --- customer steps ---------------------------------------------------------------------------------------

    def step(self, step_id: str, page: str) -> tuple[Step, Transaction]:
        with self.ctx.state.store.read() as conn:
            step = repo.get_step(conn, step_id)
            tx = repo.get(conn, step.transaction_id) if step is not None else None
        if step is None or tx is None or step.page != page:
            raise BPError("BP-ERR-215-UNKNOWN-CHALLENGE", challenge_id=step_id[:64])
        return step, tx

    def finish_step(self, step_id: str, page: str, choice_value: str) -> str:
        """Apply the customer's choice once; answer the merchant URL the browser is sent to (303)."""
        ctx, cat = self.ctx, self.ctx.catalog
        choice = cat.outcomes.pages[page].choice(choice_value)  # type: ignore[index]
        if choice is None:
            raise BPError("BP-ERR-205-INVALID-FIELDS", fields="decision")
        now = self._now()
        with ctx.state.store.transaction() as conn:
            step = repo.get_step(conn, step_id)
            tx = repo.get(conn, step.transaction_id) if step is not None else None
            if step is None or tx is None or step.page != page:
                raise BPError("BP-ERR-215-UNKNOWN-CHALLENGE", challenge_id=step_id[:64])
            if step.choice is None and not cat.status(tx.status_code).final:
                changes: dict[str, Any]
                if choice.result == "success" and step.planned_status is not None:
                    changes = {"status_code": step.planned_status, "reason_code": step.planned_reason,
                               "message": step.planned_message}
                elif choice.result == "success":
                    changes = {"status_code": cat.outcomes.success_status[tx.operation],  # type: ignore[index]
                               "reason_code": None, "message": choice.message,
                               **self._money_on_success(tx.operation, tx.amount)}
                else:
                    changes = {"status_code": choice.status_code, "reason_code": choice.reason_code,
                               "message": choice.message}
                repo.update(conn, tx, now, **changes)
                repo.set_step_choice(conn, step_id, choice.value)
                repo.add_log(conn, tx.id, tx.operation, tx.status_code, tx.amount, now)
                self._notify(tx)  # inside: the status change and its postback commit together
            elif ctx.defect(defects.STEP_REPOSTED) and step.choice is not None:
                self._notify(tx)
        landing = cat.status(tx.status_code).landing
        target = tx.success_url if landing == "success" else tx.error_url
        return target or tx.error_url or tx.success_url or "/"

    # --- capture / reverse / refund ---------------------------------------------------------------------------

    def _moved(self, operation: str) -> int:
        """Cents an off-by-one defect moves the remaining-amount check of `operation` (0 in a normal run)."""
        return self.ctx.shift("remaining_amount", operation=operation)

    def capture(self, scope: str, req: FollowUpRequest) -> dict[str, Any]:
        ctx = self.ctx
        completed, authorized = self._code("completed"), self._code("authorized")
        with ctx.state.store.transaction() as conn:
            tx = repo.get(conn, req.transaction_id, scope)
            if tx is None:
                raise self._not_found(req.transaction_id)
            if tx.status_code not in (authorized, completed) or tx.capturable == 0 \
                    or (tx.flow == "synchronous" and ctx.defect(defects.SYNC_CAPTURE_REFUSED)):
                raise self._not_allowed("capture", tx)
            amount = req.amount if req.amount is not None else tx.capturable
            if amount > tx.capturable + self._moved("capture") and not ctx.defect(defects.CAPTURE_ABOVE_AUTHORIZED):
                raise BPError("BP-ERR-208-CAPTURE-EXCEEDS", amount=as_text(amount), available=as_text(tx.capturable))
            now = self._now()
            repo.update(conn, tx, now, captured=tx.captured + amount, status_code=completed)
            repo.add_log(conn, tx.id, "capture", completed, amount, now)
        self._notify(tx)
        code, name = ctx.status_pair(tx.status_code)
        return {"transaction_id": tx.id, "status_code": code, "status": name, "order_id": tx.order_id,
                "message": ctx.catalog.test_mode_message.text, "card_last_four": tx.card_last4,
                "card_expiry_year": tx.card_expiry_year, "card_expiry_month": tx.card_expiry_month,
                "card_brand": tx.card_brand, "error_code": 0}

    def reverse(self, scope: str, req: FollowUpRequest) -> dict[str, Any]:
        ctx = self.ctx
        authorized, reversed_ = self._code("authorized"), self._code("reversed")
        with ctx.state.store.transaction() as conn:
            tx = repo.get(conn, req.transaction_id, scope)
            if tx is None:
                raise self._not_found(req.transaction_id)
            captured_once = tx.captured > 0 and tx.authorized > 0
            if captured_once and ctx.defect(defects.REVERSE_AFTER_CAPTURE):
                amount = req.amount if req.amount is not None else tx.captured
                remaining_after = 0
            else:
                if captured_once:
                    raise BPError("BP-ERR-211-REVERSE-CAPTURED", transaction_id=tx.id)
                if tx.status_code != authorized or tx.capturable == 0:
                    raise self._not_allowed("reverse", tx)
                amount = req.amount if req.amount is not None else tx.capturable
                if amount > tx.capturable + self._moved("reverse"):
                    raise BPError("BP-ERR-208-CAPTURE-EXCEEDS", amount=as_text(amount),
                                  available=as_text(tx.capturable))
                remaining_after = max(0, tx.capturable - amount)
            now = self._now()
            repo.update(conn, tx, now, reversed=tx.reversed + amount,
                        status_code=authorized if remaining_after else reversed_)
            repo.add_log(conn, tx.id, "reverse", reversed_, amount, now)
        self._notify(tx)
        code, name = ctx.status_pair(reversed_)
        return {"transaction_id": tx.id, "status_code": code, "status": name, "order_id": tx.order_id,
                "message": ctx.catalog.test_mode_message.text, "error_code": 0}

    def refund(self, scope: str, req: FollowUpRequest) -> dict[str, Any]:
        ctx, cat = self.ctx, self.ctx.catalog
        completed, refunded = self._code("completed"), self._code("refunded")
        successful = cat.refund_status("successful")
        with ctx.state.store.transaction() as conn:
            tx = repo.get(conn, req.transaction_id, scope)
            if tx is None:
                raise self._not_found(req.transaction_id)
            if tx.status_code not in (completed, refunded) or tx.refundable == 0:
                raise self._not_allowed("refund", tx)
            amount = req.amount if req.amount is not None else tx.refundable
            if amount > tx.refundable + self._moved("refund") and not ctx.defect(defects.REFUND_ABOVE_CAPTURED):
                raise BPError("BP-ERR-209-REFUND-EXCEEDS", amount=as_text(amount), available=as_text(tx.refundable))
            refund_id = str(req.fields.get("refund_id") or uuid.uuid4())
            if repo.refund_exists(conn, tx.id, refund_id):
                raise BPError("BP-ERR-205-INVALID-FIELDS", fields="refund_id")
            now = self._now()
            refund = {"refund_id": refund_id, "transaction_id": tx.id, "amount": amount, "status": successful.name,
                      "status_code": successful.code,
                      "merchant_reference": _stored_text(req.fields.get("merchant_reference")),
                      "execution_date": req.fields.get("execution_date"),
                      "comment": _stored_text(req.fields.get("comment")),
                      "created_at": now}
            repo.add_refund(conn, **refund)
            repo.update(conn, tx, now, refunded=tx.refunded + amount, status_code=refunded)
            repo.add_log(conn, tx.id, "refund", refunded, amount, now)
        if tx.payment_type == "wero":
            refund["wallet_reference"] = f"RAR{secrets.token_hex(6)}"
        if tx.postback_url:
            self.postbacks.send(tx.id, "refund", tx.postback_url, refund_fields(ctx, tx, refund))
        return {"transaction_id": tx.id, "refund_id": refund_id, "status": successful.name,
                "status_code": successful.code, "error_code": 0}

    # --- look-ups ----------------------------------------------------------------------------------------------

    def _get(self, scope: str, transaction_id: str) -> Transaction:
        with self.ctx.state.store.read() as conn:
            tx = repo.get(conn, transaction_id, scope)
        if tx is None:
            raise self._not_found(transaction_id)
        return tx

    def transaction_view(self, scope: str, transaction_id: str) -> dict[str, Any]:
        tx = self._get(scope, transaction_id)
        return self.view(tx)

    def view(self, tx: Transaction) -> dict[str, Any]:
        code, name = self.ctx.status_pair(tx.status_code)
        return {"transaction_id": tx.id, "order_id": tx.order_id, "status": name, "status_code": code,
                "amount": self._amount_value(tx.amount), "currency": tx.currency, "payment_type": tx.payment_type,
                "merchant_reference": tx.merchant_reference, "captured_amount": as_number(tx.captured),
                "refunded_amount": as_number(tx.refunded)}

    def log_view(self, scope: str, transaction_id: str) -> list[dict[str, Any]]:
        tx = self._get(scope, transaction_id)
        with self.ctx.state.store.read() as conn:
            entries = repo.log_entries(conn, tx.id)
        return [{"type": e["type"], "status": e["status"], "amount": as_number(e["amount"]),
                 "created_at": _iso(e["created_at"])} for e in entries]

    def refunds_view(self, scope: str, transaction_id: str) -> list[dict[str, Any]]:
        tx = self._get(scope, transaction_id)
        with self.ctx.state.store.read() as conn:
            rows = repo.refunds(conn, tx.id)
        return [{"transaction_id": r["transaction_id"], "refund_id": r["refund_id"], "status": r["status"],
                 "status_code": r["status_code"], "amount": as_number(r["amount"]), "message": None,
                 "error_code": 0, "created_at": _iso(r["created_at"])} for r in rows]

    # --- control ----------------------------------------------------------------------------------------------

    def internal_view(self, transaction_id: str) -> dict[str, Any] | None:
        """Everything the simulator keeps about a transaction (card masked), for the control interface."""
        with self.ctx.state.store.read() as conn:
            tx = repo.get(conn, transaction_id)
        if tx is None:
            return None
        card = None
        if tx.has_card:
            card = {"bin": tx.card_bin, "last4": tx.card_last4, "brand": tx.card_brand,
                    "masked": f"{tx.card_bin}******{tx.card_last4}",
                    "expiry_month": tx.card_expiry_month, "expiry_year": tx.card_expiry_year}
        return {**self.view(tx), "operation": tx.operation, "flow": tx.flow, "reason_code": tx.reason_code,
                "message": tx.message, "authorized_amount": as_number(tx.authorized),
                "reversed_amount": as_number(tx.reversed), "card": card,
                "original_transaction_id": tx.original_transaction_id, "recurring": bool(tx.recurring),
                "created_at": _iso(tx.created_at), "updated_at": _iso(tx.updated_at)}

    def force_status(self, transaction_id: str, code: int, postback: bool) -> dict[str, Any] | None:
        """Set a status the API cannot reach on its own (debt collection, chargeback...), with its postback."""
        with self.ctx.state.store.transaction() as conn:
            tx = repo.get(conn, transaction_id)
            if tx is None:
                return None
            now = self._now()
            repo.update(conn, tx, now, status_code=code)
            repo.add_log(conn, tx.id, "status", code, 0, now)
            if postback:
                self._notify(tx)
        return self.view(tx)
