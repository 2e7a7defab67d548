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


def _d(name: str, area: str, description: str) -> str:
    return registry.register(name, API, area, description)


AUTH_ANY_PASSWORD = _d("bp.auth_any_password", "auth", "A known API key is accepted with any password")
ERROR_MESSAGE_KEY = _d("bp.error_message_key", "error bodies",
                       "Error bodies carry 'message' instead of 'error_message'")
ERROR_FIELDS_UNNAMED = _d("bp.error_fields_unnamed", "error bodies",
                          "The missing-fields error does not name the missing fields")
ERROR_TRANSPORT_MIXED = _d("bp.error_transport_mixed", "status codes",
                           "Errors do not follow the declared transport: in band, validation errors keep their 4xx;"
                           " under http, state errors answer HTTP 200")
STATUS_CODE_WRONG = _d("bp.status_code_wrong", "status codes", "completed is reported with status_code 1")
STATUS_NAME_WRONG = _d("bp.status_name_wrong", "status codes", "status_code 3 is named 'success', not 'completed'")
CAPTURE_ABOVE_AUTHORIZED = _d("bp.capture_above_authorized", "amounts",
                              "A capture above the remaining authorized amount is accepted")
REFUND_ABOVE_CAPTURED = _d("bp.refund_above_captured", "amounts", "A refund above the refundable amount is accepted")
REVERSE_AFTER_CAPTURE = _d("bp.reverse_after_capture", "amounts",
                           "A transaction with captures can still be reversed")
IDEM_IGNORES_X_HEADER = _d("bp.idem_ignores_x_header", "idempotency",
                           "X-Idempotency-Key is ignored (only Idempotency-Key replays)")
IDEM_SHARED_SCOPE = _d("bp.idem_shared_scope", "idempotency", "Idempotency keys are shared across API keys")
IDEM_NEVER_EXPIRES = _d("bp.idem_never_expires", "idempotency", "Idempotency keys never expire")
POSTBACK_MISSING_FIELD = _d("bp.postback_missing_field", "postback fields", "Postbacks lack the order_id field")
CHECKSUM_WRONG_KEY = _d("bp.checksum_wrong_key", "checksum", "The postback checksum is made with a wrong key")
CHECKSUM_NOT_LAST = _d("bp.checksum_not_last", "checksum", "The checksum is the first postback field, not the last")
SIGNATURE_CONVENTIONAL = _d("bp.signature_conventional_order", "signature",
                            "Gateway-Webhook-Signature uses HMAC(key=webhook key, msg=body), not the doc's order")
SIGNATURE_MISSING = _d("bp.signature_missing", "signature", "Postbacks carry no Gateway-Webhook-Signature header")
RETRY_NONE = _d("bp.retry_none", "retries", "A failed postback is never retried")
RETRY_WRONG_SPACING = _d("bp.retry_wrong_spacing", "retries", "Retries come 300 s apart instead of 600 s")
RETRY_ELEVEN = _d("bp.retry_eleven_attempts", "retries", "A failing postback is attempted 11 times")
THREEDS_NO_CLIENT_ACTION = _d("bp.threeds_pending_without_client_action", "3DS",
                              "The pending 3DS response has no client_action/action_data")
THREEDS_DIRECT_IGNORED = _d("bp.threeds_direct_ignored", "3DS",
                            "Own-MPI 3DS values are ignored: the payment is challenged anyway")
URL_HTTP_ACCEPTED = _d("bp.url_http_accepted", "URL check", "Any http:// URL is accepted (no error 149)")
SCHEMA_TRANSACTION_ID = _d("bp.schema_transaction_id_renamed", "schema drift",
                           "Payment responses name transaction_id 'id'")
SCHEMA_AMOUNT_STRING = _d("bp.schema_amount_string", "schema drift",
                          "Payment and transaction responses give amount as a string")
PAN_LEAK_RESPONSE = _d("bp.pan_leak_response", "PAN leak", "The payment response echoes the full card_number")
PAN_LEAK_POSTBACK = _d("bp.pan_leak_postback", "PAN leak",
                       "A direct card payment's postback carries the full card_number")
#: Two per boundary of the catalog (one unit down, one unit up): harness/simulator/boundaries.py.
OFF_BY_ONE = boundaries.register_api(API, betterpayment().all_boundaries)

WALLET_REFUSED = _d("bp.wallet_type_refused", "payment types", "applepay and googlepay get 206 unknown payment type")
SYNC_NEEDS_REDIRECT = _d("bp.sync_needs_redirect", "payment types",
                         "Invoice and SEPA payments answer started with a redirect instead of authorized")
SYNC_CAPTURE_REFUSED = _d("bp.sync_capture_refused", "payment types", "An invoice or SEPA payment cannot be captured")
APPLEPAY_VALIDATION_MISSING = _d("bp.applepay_validation_missing", "payment types",
                                 "POST /db_apple_pay_merchants answers 404 unknown endpoint")
LENIENCY_EMPTY_DROPPED = _d("bp.leniency_empty_refused", "leniency",
                            "An empty or null optional field is validated, not treated as absent (vat '' gets 205)")
LENIENCY_NUMBER_DROPPED = _d("bp.leniency_number_refused", "leniency",
                             "A JSON number in a text field (customer_id 42) gets 205")
LENIENCY_LOCALE_STRICT = _d("bp.leniency_locale_strict", "leniency", "locale with a region (de_DE, de-DE) gets 205")
POSTBACK_TILDE_RAW = _d("bp.postback_tilde_unescaped", "checksum",
                        "Postbacks leave '~' unescaped (Python urlencode), so PHP's rebuilt checksum fails")
POSTBACK_SPACE_PERCENT = _d("bp.postback_space_percent20", "checksum",
                            "Postbacks encode space as %20 (RFC 3986), so PHP's rebuilt checksum fails")
LEGACY_AUTH_REFUSED = _d("bp.legacy_auth_refused", "auth", "Legacy checksum-authenticated requests get 401")
LEGACY_CHECKSUM_IGNORED = _d("bp.legacy_checksum_ignored", "auth",
                             "A legacy request with a wrong checksum is accepted (only api_key is checked)")

ALL = [name for name in registry.names() if name.startswith("bp.")]
