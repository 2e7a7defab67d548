"""The BetterCharge simulator's deliberate defects, for measuring whether the suites catch broken behaviour.

Each name is registered once with the shared registry at import time. The code that would misbehave asks
`state.defect(name)` at that exact point, so a defect is inert unless a defects-allowed simulator enables it.
"""

from __future__ import annotations

from harness.catalog import bettercharge
from harness.simulator import boundaries
from harness.simulator.defects import register

_API = "bettercharge"

AUTH_MISSING_PARTNER_OK = register(
    "bc.auth.missing_partner_ok", _API, "auth", "a request without x-partner-id is accepted as the key's partner")
AUTH_UNKNOWN_PARTNER_401 = register(
    "bc.auth.unknown_partner_401", _API, "auth", "a valid key with an unknown partner gets 401, not 404")
AUTH_FOREIGN_PAYMENT_VISIBLE = register(
    "bc.auth.foreign_payment_visible", _API, "auth", "another partner's payment can be read and operated (no 403)")
CARD_DECLINE_APPROVED = register(
    "bc.card.decline_approved", _API, "cards", "the catalog's first declining card authorizes")
CARD_WRONG_BRAND = register(
    "bc.card.wrong_brand", _API, "cards", "every card reports the brand of the catalog's first card")
CARD_EXPIRY_IGNORED = register(
    "bc.card.expiry_ignored", _API, "cards", "expired cards and cards expiring this month authorize")
EMAIL_WRONG_DECISION = register(
    "bc.email.wrong_decision", _API, "emails", "the first declining test email's decision object loses its reason")
EMAIL_NO_LIABILITY = register(
    "bc.email.no_liability", _API, "emails", "the liability test email does not set liabilityShift")
EMAIL_RETRY_NO_PROCESSING = register(
    "bc.email.retry_no_processing", _API, "emails", "the retry test email authorizes at once, never PROCESSING")
TOKEN_REFUSED = register(
    "bc.token.refused", _API, "token", "the test token is refused as if it were not a test token")
ERROR_TEMPLATE_UNFILLED = register(
    "bc.error.template_unfilled", _API, "error bodies", "error messages keep their {placeholders} unfilled")
ERROR_PAYMENT_NOT_FOUND_CODE = register(
    "bc.error.payment_not_found_code", _API, "error bodies",
    "an operation on an unknown bcId answers 422 with the 404 NOT_FOUND body instead of PAYMENT_NOT_FOUND")
TX_CAPTURE_AFTER_VOID = register(
    "bc.tx.capture_after_void", _API, "transitions", "capture after void answers PAYMENT_NOT_AUTHORIZED")
TX_PARTIAL_REFUND_REFUNDED = register(
    "bc.tx.partial_refund_refunded", _API, "transitions", "a partial refund ends REFUNDED")
TX_VOID_AFTER_CAPTURE = register(
    "bc.tx.void_after_capture", _API, "transitions", "a captured payment can be voided")
AMOUNT_OVER_REFUND = register(
    "bc.amount.over_refund", _API, "amounts", "a refund over the refundable remainder is accepted")
AMOUNT_OVER_CAPTURE = register(
    "bc.amount.over_capture", _API, "amounts", "a capture over the authorized amount is accepted")
IDEM_OFF = register(
    "bc.idem.off", _API, "idempotency", "the Idempotency-Key header is ignored")
IDEM_SHARED_SCOPE = register(
    "bc.idem.shared_scope", _API, "idempotency", "one idempotency cache is shared by all API keys")
IDEM_STORE_VALIDATION = register(
    "bc.idem.store_validation", _API, "idempotency", "validation failures are stored and replayed")
IDEM_NO_EXPIRY = register(
    "bc.idem.no_expiry", _API, "idempotency", "stored answers never expire")
RATE_HEADERS_ON_SUCCESS_ONLY = register(
    "bc.rate.headers_on_success_only", _API, "rate limit", "X-RateLimit-* headers are missing on error responses")
RATE_LIMIT_101 = register(
    "bc.rate.limit_101", _API, "rate limit", "the limit lets one request more through than it announces")
RATE_NO_RETRY_AFTER = register(
    "bc.rate.no_retry_after", _API, "rate limit", "a 429 has no Retry-After header")
LOCK_NONE = register(
    "bc.lock.none", _API, "locking", "concurrent operations on one payment are never answered 423")
VALIDATION_500_WRONG_TYPE = register(
    "bc.validation.500_wrong_type", _API, "validation", "a non-integer amount on authorize answers 500")
SCHEMA_ID_RENAMED = register(
    "bc.schema.id_renamed", _API, "schema drift", "the payment object calls bcId `id`")
SCHEMA_AMOUNT_STRING = register(
    "bc.schema.amount_string", _API, "schema drift", "the payment object gives amount as a string")
PAN_LEAK = register(
    "bc.pan.leak", _API, "PAN leak", "the creation response's card object carries the full PAN")

#: Two per boundary of the catalog (one unit down, one unit up): harness/simulator/boundaries.py.
OFF_BY_ONE = boundaries.register_api(_API, bettercharge().all_boundaries)
