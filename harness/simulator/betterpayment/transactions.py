"""Storage of Better Payment transactions, their operation log, refunds and pending customer steps.

Amounts are integer cents. `authorized` is what the authorization covered, `captured`/`reversed`/`refunded`
are running totals, so what is still capturable or refundable is always derived, never stored twice.
Card data is kept only as bin, last four, brand and expiry (PCI DSS requirement 3; ARCHITECTURE.md, "Card data
never leaves a request": never the PAN, never the CVV).
All functions take an open connection so the caller decides the transaction boundary.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

from harness.simulator.store import Store

DDL = """
CREATE TABLE IF NOT EXISTS bp_transactions (
    id TEXT PRIMARY KEY, scope TEXT NOT NULL, operation TEXT NOT NULL, payment_type TEXT NOT NULL,
    flow TEXT NOT NULL, order_id TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL,
    merchant_reference TEXT NOT NULL, additional_transaction_data TEXT,
    postback_url TEXT NOT NULL, success_url TEXT, error_url TEXT,
    status_code INTEGER NOT NULL, message TEXT, reason_code TEXT,
    authorized INTEGER NOT NULL DEFAULT 0, captured INTEGER NOT NULL DEFAULT 0,
    reversed INTEGER NOT NULL DEFAULT 0, refunded INTEGER NOT NULL DEFAULT 0,
    card_bin TEXT, card_last4 TEXT, card_brand TEXT, card_expiry_month TEXT, card_expiry_year TEXT,
    original_transaction_id TEXT, recurring INTEGER NOT NULL DEFAULT 0,
    wallet_activity_reference TEXT NOT NULL DEFAULT '', wallet_account_reference TEXT NOT NULL DEFAULT '',
    payer_location TEXT NOT NULL DEFAULT '', external_transaction_id TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS bp_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, transaction_id TEXT NOT NULL, type TEXT NOT NULL,
    status INTEGER NOT NULL, amount INTEGER NOT NULL, created_at REAL NOT NULL
);
-- GET /rest/transactions/{id}/log reads one transaction's entries: without the index every request scanned the
-- whole log, so a long-running simulator answered it more slowly with every payment it had taken.
CREATE INDEX IF NOT EXISTS bp_log_transaction ON bp_log (transaction_id, seq);
CREATE TABLE IF NOT EXISTS bp_refunds (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, refund_id TEXT NOT NULL, transaction_id TEXT NOT NULL,
    amount INTEGER NOT NULL, status TEXT NOT NULL, status_code INTEGER NOT NULL, merchant_reference TEXT,
    execution_date TEXT, comment TEXT, created_at REAL NOT NULL, UNIQUE (transaction_id, refund_id)
);
CREATE TABLE IF NOT EXISTS bp_steps (
    id TEXT PRIMARY KEY, transaction_id TEXT NOT NULL, page TEXT NOT NULL,
    planned_status INTEGER, planned_reason TEXT, planned_message TEXT,
    choice TEXT, created_at REAL NOT NULL
);
"""
TABLES = ["bp_transactions", "bp_log", "bp_refunds", "bp_steps"]


@dataclass
class Transaction:
    id: str
    scope: str
    operation: str
    payment_type: str
    flow: str
    order_id: str
    amount: int
    currency: str
    merchant_reference: str
    additional_transaction_data: str | None
    postback_url: str
    success_url: str | None
    error_url: str | None
    status_code: int
    message: str | None
    reason_code: str | None
    authorized: int
    captured: int
    reversed: int
    refunded: int
    card_bin: str | None
    card_last4: str | None
    card_brand: str | None
    card_expiry_month: str | None
    card_expiry_year: str | None
    original_transaction_id: str | None
    recurring: int
    wallet_activity_reference: str
    wallet_account_reference: str
    payer_location: str
    external_transaction_id: str
    created_at: float
    updated_at: float

    @property
    def capturable(self) -> int:
        return max(self.authorized - self.captured - self.reversed, 0)

    @property
    def refundable(self) -> int:
        return max(self.captured - self.refunded, 0)

    @property
    def has_card(self) -> bool:
        return bool(self.card_last4)


@dataclass
class Step:
    """A customer step waiting on the ACS or bank page, with the outcome the card data already decided."""

    id: str
    transaction_id: str
    page: str
    planned_status: int | None
    planned_reason: str | None
    planned_message: str | None
    choice: str | None
    created_at: float


def install(store: Store) -> None:
    store.register_schema(DDL, TABLES)


def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return None if row is None else {k: row[k] for k in row.keys()}  # noqa: SIM118 - sqlite3.Row


_COLUMNS = [f.name for f in fields(Transaction)]
_INSERT = f"INSERT INTO bp_transactions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"


_VALUES = attrgetter(*_COLUMNS)  # the row's values in column order, in one C call


def insert(conn: sqlite3.Connection, tx: Transaction) -> None:
    conn.execute(_INSERT, _VALUES(tx))


_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM bp_transactions WHERE id = ?"


def get(conn: sqlite3.Connection, transaction_id: str, scope: str | None = None) -> Transaction | None:
    """The transaction, or None when it does not exist or belongs to another API key. The columns are named in
    the dataclass's order and the row read by position (a dict per row was a twentieth of a GET's time)."""
    row = conn.execute(_SELECT, (transaction_id,)).fetchone()
    if row is None or (scope is not None and row["scope"] != scope):
        return None
    return Transaction(*row)


def update(conn: sqlite3.Connection, tx: Transaction, now: float, **changes: Any) -> Transaction:
    changes["updated_at"] = now
    sets = ", ".join(f"{k} = ?" for k in changes)
    conn.execute(f"UPDATE bp_transactions SET {sets} WHERE id = ?", (*changes.values(), tx.id))
    for k, v in changes.items():
        setattr(tx, k, v)
    return tx


def add_log(conn: sqlite3.Connection, transaction_id: str, kind: str, status: int, amount: int, now: float) -> None:
    conn.execute("INSERT INTO bp_log (transaction_id, type, status, amount, created_at) VALUES (?, ?, ?, ?, ?)",
                 (transaction_id, kind, status, amount, now))


def log_entries(conn: sqlite3.Connection, transaction_id: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT type, status, amount, created_at FROM bp_log WHERE transaction_id = ? ORDER BY seq",
                        (transaction_id,)).fetchall()
    return [{k: r[k] for k in r.keys()} for r in rows]  # noqa: SIM118


def add_refund(conn: sqlite3.Connection, **values: Any) -> None:
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    conn.execute(f"INSERT INTO bp_refunds ({cols}) VALUES ({marks})", tuple(values.values()))


def refund_exists(conn: sqlite3.Connection, transaction_id: str, refund_id: str) -> bool:
    return conn.execute("SELECT 1 FROM bp_refunds WHERE transaction_id = ? AND refund_id = ?",
                        (transaction_id, refund_id)).fetchone() is not None


def refunds(conn: sqlite3.Connection, transaction_id: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM bp_refunds WHERE transaction_id = ? ORDER BY seq", (transaction_id,))
    return [{k: r[k] for k in r.keys()} for r in rows.fetchall()]  # noqa: SIM118


def add_step(conn: sqlite3.Connection, step: Step) -> None:
    conn.execute("INSERT INTO bp_steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)", tuple(vars(step).values()))


def get_step(conn: sqlite3.Connection, step_id: str) -> Step | None:
    row = _row(conn.execute("SELECT * FROM bp_steps WHERE id = ?", (step_id,)).fetchone())
    return None if row is None else Step(**row)


def set_step_choice(conn: sqlite3.Connection, step_id: str, choice: str) -> None:
    conn.execute("UPDATE bp_steps SET choice = ? WHERE id = ?", (choice, step_id))
