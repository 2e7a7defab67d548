"""The Better Payment simulator's deliberate defects (mutation testing of the suites).

Each name is registered once, at import, with the shared registry; simulator code asks
`state.defect(NAME)` exactly where it would misbehave. They can only be switched on in a simulator started
with PAYCERT_SIMULATOR_DEFECTS (see harness/simulator/state.py), never in a certification run.
"""

from __future__ import annotations

from harness.catalog import betterpayment
from harness.simulator import boundaries
from harness.simulator import defects as registry

API = "betterpayment"


def _area(area: str, defects: dict[str, str]) -> list[str]:
    """Register the defects of one area (name: what it breaks), in order; their names, for the constants."""
    return [registry.register(name, API, area, description) for name, description in defects.items()]


AUTH_ANY_PASSWORD, LEGACY_AUTH_REFUSED, LEGACY_CHECKSUM_IGNORED = _area("auth", {
    "bp.auth_any_password": "A known API key is accepted with any password",
    "bp.legacy_auth_refused": "Legacy checksum-authenticated requests get 401",
    "bp.legacy_checksum_ignored": "A legacy request with a wrong checksum is accepted (only api_key is checked)",
})
ERROR_MESSAGE_KEY, ERROR_FIELDS_UNNAMED = _area("error bodies", {
    "bp.error_message_key": "Error bodies carry 'message' instead of 'error_message'",
    "bp.error_fields_unnamed": "The missing-fields error does not name the missing fields",
})
ERROR_TRANSPORT_MIXED, STATUS_CODE_WRONG, STATUS_NAME_WRONG = _area("status codes", {
    "bp.error_transport_mixed": (
        "Errors do not follow the declared transport: in band, validation errors keep their 4xx; under http, "
        "state errors answer HTTP 200"
    ),
    "bp.status_code_wrong": "completed is reported with status_code 1",
    "bp.status_name_wrong": "status_code 3 is named 'success', not 'completed'",
})
CAPTURE_ABOVE_AUTHORIZED, REFUND_ABOVE_CAPTURED, REVERSE_AFTER_CAPTURE = _area("amounts", {
    "bp.capture_above_authorized": "A capture above the remaining authorized amount is accepted",
    "bp.refund_above_captured": "A refund above the refundable amount is accepted",
    "bp.reverse_after_capture": "A transaction with captures can still be reversed",
})
IDEM_IGNORES_X_HEADER, IDEM_SHARED_SCOPE, IDEM_NEVER_EXPIRES = _area("idempotency", {
    "bp.idem_ignores_x_header": "X-Idempotency-Key is ignored (only Idempotency-Key replays)",
    "bp.idem_shared_scope": "Idempotency keys are shared across API keys",
    "bp.idem_never_expires": "Idempotency keys never expire",
})
(POSTBACK_MISSING_FIELD,) = _area("postback fields", {
    "bp.postback_missing_field": "Postbacks lack the order_id field",
})
CHECKSUM_WRONG_KEY, CHECKSUM_NOT_LAST, POSTBACK_TILDE_RAW, POSTBACK_SPACE_PERCENT = _area("checksum", {
    "bp.checksum_wrong_key": "The postback checksum is made with a wrong key",
    "bp.checksum_not_last": "The checksum is the first postback field, not the last",
    "bp.postback_tilde_unescaped": "Postbacks leave '~' unescaped (Python urlencode), so PHP's rebuilt checksum fails",
    "bp.postback_space_percent20": "Postbacks encode space as %20 (RFC 3986), so PHP's rebuilt checksum fails",
})
SIGNATURE_CONVENTIONAL, SIGNATURE_MISSING = _area("signature", {
    "bp.signature_conventional_order": (
        "Gateway-Webhook-Signature uses HMAC(key=webhook key, msg=body), not the doc's order"
    ),
    "bp.signature_missing": "Postbacks carry no Gateway-Webhook-Signature header",
})
RETRY_NONE, RETRY_WRONG_SPACING, RETRY_ELEVEN = _area("retries", {
    "bp.retry_none": "A failed postback is never retried",
    "bp.retry_wrong_spacing": "Retries come 300 s apart instead of 600 s",
    "bp.retry_eleven_attempts": "A failing postback is attempted 11 times",
})
THREEDS_NO_CLIENT_ACTION, THREEDS_DIRECT_IGNORED, STEP_REPOSTED = _area("3DS", {
    "bp.threeds_pending_without_client_action": "The pending 3DS response has no client_action/action_data",
    "bp.threeds_direct_ignored": "Own-MPI 3DS values are ignored: the payment is challenged anyway",
    "bp.step_reposted": (
        "A finished 3DS or bank step answered again posts its final status again (the status itself stays)"
    ),
})
(URL_HTTP_ACCEPTED,) = _area("URL check", {
    "bp.url_http_accepted": "Any http:// URL is accepted (no error 149)",
})
SCHEMA_TRANSACTION_ID, SCHEMA_AMOUNT_STRING = _area("schema drift", {
    "bp.schema_transaction_id_renamed": "Payment responses name transaction_id 'id'",
    "bp.schema_amount_string": "Payment and transaction responses give amount as a string",
})
PAN_LEAK_RESPONSE, PAN_LEAK_POSTBACK = _area("PAN leak", {
    "bp.pan_leak_response": "The payment response echoes the full card_number",
    "bp.pan_leak_postback": "A direct card payment's postback carries the full card_number",
})
WALLET_REFUSED, SYNC_NEEDS_REDIRECT, SYNC_CAPTURE_REFUSED, APPLEPAY_VALIDATION_MISSING = _area("payment types", {
    "bp.wallet_type_refused": "applepay and googlepay get 206 unknown payment type",
    "bp.sync_needs_redirect": "Invoice and SEPA payments answer started with a redirect instead of authorized",
    "bp.sync_capture_refused": "An invoice or SEPA payment cannot be captured",
    "bp.applepay_validation_missing": "POST /db_apple_pay_merchants answers 404 unknown endpoint",
})
LENIENCY_EMPTY_DROPPED, LENIENCY_NUMBER_DROPPED, LENIENCY_LOCALE_STRICT = _area("leniency", {
    "bp.leniency_empty_refused": (
        "An empty or null optional field is validated, not treated as absent (vat '' gets 205)"
    ),
    "bp.leniency_number_refused": "A JSON number in a text field (customer_id 42) gets 205",
    "bp.leniency_locale_strict": "locale with a region (de_DE, de-DE) gets 205",
})
#: Two per boundary of the catalog (one unit down, one unit up): harness/simulator/boundaries.py.
OFF_BY_ONE = boundaries.register_api(API, betterpayment().all_boundaries)

ALL = [name for name in registry.names() if name.startswith("bp.")]
