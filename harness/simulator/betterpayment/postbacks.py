"""Postbacks: the seed's form-encoded notifications, signed both ways, delivered in the background with retries.

Delivery (Better Payment's public postbacks documentation, docs.betterpayment.de resources/postbacks; catalog
`postbacks.retry`): attempt 1 right away, then one attempt every
600 s of *simulator* time until the receiver answers 200, 10 attempts in all. A small asyncio loop, started
lazily on the server's event loop, polls every 0.1 s for postbacks that are due. Moving the simulator clock
(POST /_simulator/clock) answers once the retries it made due have been attempted (Dispatcher.settle), so a
test of the retry schedule checks each one at once instead of sleeping through the loop's ticks. The API
response never waits for a delivery.

Postbacks of one transaction go one at a time, in the order they were queued (a capture's postback never
overtakes the authorization's); different transactions are delivered concurrently.

Every attempt is logged (url, simulator time, HTTP status or error, the fields with card data masked) and is
readable at GET /_simulator/betterpayment/postbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from harness.cards import luhn_valid, mask_digits
from harness.postback_signing import (
    CHECKSUM_FIELD,
    SIGNATURE_HEADER,
    checksum,
    encode_fields,
    encode_postback,
    parse_postback,
    signature,
    signature_conventional,
)
from harness.simulator.betterpayment import defects
from harness.simulator.betterpayment.context import Context
from harness.simulator.betterpayment.money import as_text
from harness.simulator.betterpayment.transactions import Transaction
from harness.simulator.edge import targets_control

DDL = """
CREATE TABLE IF NOT EXISTS bp_postbacks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, transaction_id TEXT NOT NULL, kind TEXT NOT NULL, url TEXT NOT NULL,
    body TEXT NOT NULL, signature TEXT, attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
    spacing REAL NOT NULL, next_at REAL, delivered INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS bp_postbacks_due ON bp_postbacks (next_at) WHERE delivered = 0;
CREATE TABLE IF NOT EXISTS bp_postback_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, postback_id INTEGER NOT NULL, attempt INTEGER NOT NULL,
    url TEXT NOT NULL, at REAL NOT NULL, status INTEGER, error TEXT
);
-- The delivery log of one transaction (GET /_simulator/betterpayment/postbacks?transaction_id=, which the suites
-- read after every postback check) finds its rows by index, not by scanning everything the simulator delivered.
CREATE INDEX IF NOT EXISTS bp_postbacks_transaction ON bp_postbacks (transaction_id);
CREATE INDEX IF NOT EXISTS bp_postback_attempts_postback ON bp_postback_attempts (postback_id);
"""
TABLES = ["bp_postbacks", "bp_postback_attempts"]
POLL_SECONDS = 0.1
#: How long a clock move waits for the deliveries it made due (Dispatcher.settle): loopback receivers answer
#: in milliseconds; a receiver that hangs must not hold the control interface for the whole postback timeout.
SETTLE_SECONDS = 2.0
#: Queueing a postback, and logging one attempt: the statements send() and _deliver() share.
_QUEUE = ("INSERT INTO bp_postbacks (transaction_id, kind, url, body, signature, attempts, max_attempts, spacing,"
          " next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_LOG_ATTEMPT = ("INSERT INTO bp_postback_attempts (postback_id, attempt, url, at, status, error)"
                " VALUES (?, ?, ?, ?, ?, ?)")
_DIGITS = re.compile(r"\d{12,19}")
_CARD_FIELDS = {"card_number", "pan"}
_SECRET_FIELDS = {"card_cvv", "cvv"}


# --- field sets ---------------------------------------------------------------------------------------------

def _common_values(ctx: Context, tx: Transaction) -> dict[str, str]:
    code, name = ctx.status_pair(tx.status_code)
    return {
        "transaction_id": tx.id,
        "payment_type": tx.payment_type,
        "status_code": str(code),
        "status": name,
        "order_id": tx.order_id,
        "message": tx.message or "",
        "payer_location": tx.payer_location,
        "additional_transaction_data": tx.additional_transaction_data or "",
    }


def transaction_fields(ctx: Context, tx: Transaction) -> tuple[str, list[tuple[str, str]]]:
    """(kind, fields in catalog order) of the postback reporting the transaction's current status."""
    cat = ctx.catalog
    kind = cat.postbacks.kind_for_status(tx.status_code)
    values = _common_values(ctx, tx) | {
        "remittance_info": f"{tx.order_id} - {cat.simulator.shop_name}",
        "wallet_activity_reference": tx.wallet_activity_reference,
        "wallet_account_reference": tx.wallet_account_reference,
        "reason_code": tx.reason_code or "",
        "amount": as_text(tx.amount),
        "included_fees": cat.included_fees,
        "external_transaction_id": tx.external_transaction_id,
    }
    names = ctx.memo.get(("postback-names", kind))
    if names is None:  # PostbackKind.names builds its list anew per call
        names = ctx.memo[("postback-names", kind)] = [n for n in cat.postbacks.kinds[kind].names if n != CHECKSUM_FIELD]
    return kind, [(n, values[n]) for n in names]


def refund_fields(ctx: Context, tx: Transaction, refund: dict[str, Any]) -> list[tuple[str, str]]:
    """The refund postback's fields (catalog `postbacks.kinds.refund`), for one refund of `tx`."""
    cat = ctx.catalog
    values = _common_values(ctx, tx) | {
        "refund_remittance_info": refund.get("merchant_reference") or f"{tx.order_id} - {cat.simulator.shop_name}",
        "refund_wallet_activity_reference": refund.get("wallet_reference", ""),
        "refund_id": str(refund["refund_id"]),
        "refund_status_code": str(refund["status_code"]),
        "refund_reason_code": "",
        "refund_amount": as_text(int(refund["amount"])),
    }
    names = cat.postbacks.kinds["refund"].names
    return [(n, values[n]) for n in names if n != CHECKSUM_FIELD]


def masked_fields(body: str) -> dict[str, str]:
    """The body's fields for the delivery log: card numbers masked, CVVs dropped, PAN-shaped runs masked."""
    out: dict[str, str] = {}
    for k, v in parse_postback(body).items():
        if k.lower() in _SECRET_FIELDS:
            out[k] = "[REDACTED]"
        elif k.lower() in _CARD_FIELDS:
            out[k] = mask_digits(v) if len(v) >= 10 else "[REDACTED]"
        else:
            out[k] = _DIGITS.sub(lambda m: mask_digits(m.group()) if luhn_valid(m.group()) else m.group(), v)
    return out


# --- dispatcher ---------------------------------------------------------------------------------------------

class Dispatcher:
    """Queues postbacks in the store and delivers them from a background task on the server's event loop."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._busy: set[int] = set()
        self._busy_transactions: set[str] = set()  # one delivery per transaction at a time, in queue order
        # Transactions with a due postback held back behind one on the wire: its end wakes the loop for them.
        # (Only for them: a wake per delivery meant a query of the due postbacks per payment.)
        self._waiting_transactions: set[str] = set()
        self._running: set[asyncio.Task[None]] = set()
        self._generation = 0
        # _refusal per URL: it depends on the URL alone, and a merchant names the same postback_url again and
        # again; working it out (split, host lookup, network match) was a thirtieth of a payment's time.
        self._refusals: dict[str, str | None] = {}
        ctx.state.store.register_schema(DDL, TABLES)
        ctx.state.on_reset(self.reset)

    def reset(self) -> None:
        """Forget in-flight deliveries; their results are dropped (the rows are gone)."""
        self._generation += 1
        self._busy.clear()
        self._busy_transactions.clear()
        self._waiting_transactions.clear()

    # enqueue -------------------------------------------------------------------------------------------------

    def send(self, tx_id: str, kind: str, url: str, fields: list[tuple[str, str]], *, pan: str | None = None) -> int:
        """Sign and queue one postback; attempt 1 happens at once: in the background, or here when the receiver is
        one the simulator never contacts (_refusal)."""
        ctx = self._ctx
        pairs = [(k, v) for k, v in fields if k != CHECKSUM_FIELD]
        if ctx.defect(defects.POSTBACK_MISSING_FIELD):
            pairs = [(k, v) for k, v in pairs if k != "order_id"]
        if pan and ctx.defect(defects.PAN_LEAK_POSTBACK):
            pairs.append(("card_number", pan))
        key = ctx.incoming_key + ("-wrong" if ctx.defect(defects.CHECKSUM_WRONG_KEY) else "")
        foreign = _foreign_encoder(ctx)
        if foreign is not None:
            # An encoder other than PHP's: the checksum matches the raw body, PHP's rebuilt string differs.
            rest = foreign(pairs)
            body = f"{rest}&{encode_fields([(CHECKSUM_FIELD, checksum(rest, key))])}"
        elif ctx.defect(defects.CHECKSUM_NOT_LAST):
            rest = encode_fields(pairs)
            body = encode_fields([(CHECKSUM_FIELD, checksum(rest, key))]) + "&" + rest
        else:
            body = encode_postback(pairs, key)
        sig: str | None
        if ctx.defect(defects.SIGNATURE_MISSING):
            sig = None
        elif ctx.defect(defects.SIGNATURE_CONVENTIONAL):
            sig = signature_conventional(body, ctx.webhook_key)
        else:
            sig = signature(body, ctx.webhook_key)
        retry = ctx.catalog.postbacks.retry
        max_attempts = retry.max_attempts
        if ctx.defect(defects.RETRY_NONE):
            max_attempts = 1
        elif ctx.defect(defects.RETRY_ELEVEN):
            max_attempts = retry.max_attempts + 1
        spacing = retry.interval_seconds / 2 if ctx.defect(defects.RETRY_WRONG_SPACING) else retry.interval_seconds
        spacing += ctx.shift("retry_spacing")
        max_attempts += ctx.shift("retry_max")
        now = ctx.state.clock.now()
        store = ctx.state.store
        refused = self._refusal(url)
        if refused is None or max_attempts < 1:
            # One statement (Store.execute): it commits with the status change that queued it.
            cur = store.execute(_QUEUE, (tx_id, kind, url, body, sig, 0, max_attempts, spacing, now, now))
            self.kick()
            return int(cur.lastrowid or 0)
        # A receiver the simulator never contacts: attempt 1 is decided now, without the network, so it is logged
        # now, with the postback, exactly as the delivery loop would log it at once (_deliver). Why not leave it to
        # the loop: its wake, query, task and second transaction were a sixth of a payment's time (benchmarks/
        # README.md). The retries stay the loop's: they come due with the clock.
        next_at = _next_attempt_at(1, max_attempts, now, spacing)
        with store.transaction() as conn:
            cur = conn.execute(_QUEUE, (tx_id, kind, url, body, sig, 1, max_attempts, spacing, next_at, now))
            postback_id = int(cur.lastrowid or 0)
            conn.execute(_LOG_ATTEMPT, (postback_id, 1, url, now, None, refused))
        self.ensure_running()  # for the retries
        return postback_id

    def _refusal(self, url: str) -> str | None:
        refusals = self._refusals
        if url in refusals:
            return refusals[url]
        if len(refusals) >= 1024:  # fuzzed requests name any number of URLs; keep the memo small
            refusals.clear()
        refused = refusals[url] = _refusal(self._ctx, url)
        return refused

    # background loop ------------------------------------------------------------------------------------------

    def kick(self) -> None:
        """Make sure the delivery loop runs on the current event loop, and wake it."""
        if self.ensure_running():
            assert self._wake is not None
            self._wake.set()

    async def settle(self) -> None:
        """Return once every postback due by now has been attempted, each transaction's queue in order, or after
        SETTLE_SECONDS (a receiver that hangs: its attempt goes on in the background, as before). The clock
        route awaits it, so moving the clock past a retry's time means the retry has been attempted."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_SECONDS
        self.kick()
        while loop.time() < deadline:
            running = list(self._running)
            if running:
                await asyncio.wait(running, timeout=max(deadline - loop.time(), 0))
                continue
            if not self._due():
                return
            self.kick()
            await asyncio.sleep(0.002)  # the loop takes the due rows on its next turn

    def ensure_running(self) -> bool:
        """Start the delivery loop on the current event loop unless it runs there (woken at once when started);
        False outside an event loop. What an API request does: a queued postback wakes the loop itself (send),
        and what comes due with time is found by the loop's own poll, so a request need not wake it."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop = loop
            self._wake = asyncio.Event()
            self._wake.set()
            self._task = loop.create_task(self._run(), name="bp-postbacks")
        return True

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        # One client per loop, no keep-alive: every delivery is its own connection, as a gateway's would be.
        client = httpx.AsyncClient(timeout=self._ctx.catalog.simulator.postback_timeout_seconds,
                                   follow_redirects=False, trust_env=False,
                                   limits=httpx.Limits(max_keepalive_connections=0))
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_SECONDS):  # wait_for would add a task per wake
                        await wake.wait()
                wake.clear()
                try:
                    for row in self._due():
                        if row["transaction_id"] in self._busy_transactions:
                            # its earlier postback is still on the wire: keep the gateway's order, and go on
                            # as soon as that one is done
                            self._waiting_transactions.add(row["transaction_id"])
                            continue
                        self._busy.add(row["id"])
                        self._busy_transactions.add(row["transaction_id"])
                        task = asyncio.create_task(self._deliver(client, row, self._generation))
                        self._running.add(task)
                        task.add_done_callback(self._running.discard)
                except Exception:
                    await asyncio.sleep(POLL_SECONDS)  # the loop must survive a bad row; the next tick retries
        finally:
            await client.aclose()

    def _due(self) -> list[dict[str, Any]]:
        now = self._ctx.state.clock.now()
        with self._ctx.state.store.read() as conn:
            rows = conn.execute(
                "SELECT id, transaction_id, url, body, signature, attempts, max_attempts, spacing FROM bp_postbacks"
                " WHERE delivered = 0 AND attempts < max_attempts AND next_at IS NOT NULL AND next_at <= ?"
                " ORDER BY id", (now,)).fetchall()
        return [{k: r[k] for k in r.keys()} for r in rows if r["id"] not in self._busy]  # noqa: SIM118

    async def _deliver(self, client: httpx.AsyncClient, row: dict[str, Any], generation: int) -> None:
        ctx = self._ctx
        at = ctx.state.clock.now()
        headers = {"Content-Type": ctx.catalog.postbacks.content_type, "User-Agent": "paycert-simulator"}
        if row["signature"] is not None:
            headers[SIGNATURE_HEADER] = row["signature"]
        status: int | None = None
        error = self._refusal(row["url"])
        if error is None:
            try:
                response = await client.post(row["url"], content=row["body"].encode(), headers=headers)
                status = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
            except Exception as exc:  # a delivery failure is data for the log, never a crash
                error = f"{type(exc).__name__}"
        try:
            if generation != self._generation:
                return
            attempt = row["attempts"] + 1
            delivered = status == ctx.catalog.postbacks.retry.success_status
            next_at = None if delivered else _next_attempt_at(attempt, row["max_attempts"], at, row["spacing"])
            with ctx.state.store.transaction() as conn:
                updated = conn.execute("UPDATE bp_postbacks SET attempts = ?, delivered = ?, next_at = ? WHERE id = ?",
                                       (attempt, int(delivered), next_at, row["id"]))
                if updated.rowcount == 0:  # the postback is gone (a reset): nothing to log
                    return
                conn.execute(_LOG_ATTEMPT, (row["id"], attempt, row["url"], at, status, error))
        finally:
            self._busy.discard(row["id"])
            self._busy_transactions.discard(row["transaction_id"])
            if row["transaction_id"] in self._waiting_transactions and self._wake is not None:
                self._waiting_transactions.discard(row["transaction_id"])
                self._wake.set()  # the transaction's next postback may go now

    # the delivery log -----------------------------------------------------------------------------------------

    def log(self, transaction_id: str | None = None) -> dict[str, Any]:
        """Every postback and every attempt, card data masked, for the control interface."""
        from datetime import UTC, datetime

        def iso(t: float | None) -> str | None:
            if t is None:
                return None
            return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

        where, args = ("WHERE p.transaction_id = ?", (transaction_id,)) if transaction_id else ("", ())
        with self._ctx.state.store.read() as conn:
            posts = conn.execute(f"SELECT * FROM bp_postbacks p {where} ORDER BY p.id", args).fetchall()
            attempts = conn.execute(
                "SELECT a.*, p.transaction_id, p.kind, p.body FROM bp_postback_attempts a"
                f" JOIN bp_postbacks p ON p.id = a.postback_id {where} ORDER BY a.seq", args).fetchall()
        postbacks = [{
            "id": p["id"], "transaction_id": p["transaction_id"], "kind": p["kind"], "url": p["url"],
            "attempts": p["attempts"], "max_attempts": p["max_attempts"], "spacing_seconds": p["spacing"],
            "delivered": bool(p["delivered"]),
            "exhausted": not p["delivered"] and p["attempts"] >= p["max_attempts"],
            "next_attempt_at": p["next_at"], "next_attempt_time": iso(p["next_at"]),
            "signed": p["signature"] is not None, "fields": masked_fields(p["body"]),
        } for p in posts]
        deliveries = [{
            "postback_id": a["postback_id"], "transaction_id": a["transaction_id"], "kind": a["kind"],
            "attempt": a["attempt"], "url": a["url"], "at": a["at"], "time": iso(a["at"]),
            "status": a["status"], "error": a["error"], "fields": masked_fields(a["body"]),
        } for a in attempts]
        return {"postbacks": postbacks, "deliveries": deliveries}


def _foreign_encoder(ctx: Context) -> Any:
    """The encoder a postback-encoding defect uses instead of PHP's (None: no such defect is on)."""
    if ctx.defect(defects.POSTBACK_TILDE_RAW):
        return lambda pairs: urlencode(pairs)  # Python: '~' stays
    if ctx.defect(defects.POSTBACK_SPACE_PERCENT):
        return lambda pairs: urlencode(pairs, quote_via=quote)  # RFC 3986: space as %20
    return None


def _next_attempt_at(attempt: int, max_attempts: int, at: float, spacing: float) -> float | None:
    """When the attempt after a failed attempt number `attempt` (made at `at`) is due; None: none is left."""
    return None if attempt >= max_attempts else at + spacing


def _refusal(ctx: Context, url: str) -> str | None:
    """Why the simulator will not send a postback to `url`, as the delivery log says it; None: it may.

    - The simulator runs offline: it never sends traffic beyond loopback (a fuzzed postback_url may name any
      host). The attempt is logged as failed, as an unreachable receiver would be.
    - Never to a simulator's control interface (this one's or another's on the machine): a postback_url of
      .../_simulator/reset would otherwise let any client wipe everyone's state.
    """
    if not _reachable(ctx, url):
        return f"not sent: {urlsplit(url).hostname} is not a loopback address"
    if targets_control(url):
        return "not sent: the URL names a simulator control route (/_simulator)"
    return None


def _reachable(ctx: Context, url: str) -> bool:
    """Only loopback receivers (127.0.0.0/8, ::1, localhost) are ever contacted."""
    from harness.simulator.betterpayment.validation import _loopback, loopback_policy, scheme_and_host

    policy = ctx.catalog.url_policy
    host = scheme_and_host(url)[1].lower()
    return _loopback(host, *loopback_policy(tuple(policy.loopback_hosts), tuple(policy.loopback_networks)))
