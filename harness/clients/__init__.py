"""HTTP clients for the two APIs under test, with retries, a shared request budget and evidence recording.

    from harness.clients import BetterChargeClient, RetryPolicy, InfrastructureError
    client = BetterChargeClient(base_url, api_key, partner_id)
    response = client.get_payment(bc_id)          # an httpx.Response, judged by the suites
    raw = client.without_retries().get_payment(bc_id)   # sees 429/500/502 as they come

Layering: clients import the catalog and harness.evidence/harness.redaction, never the simulator or suites.
"""

from harness.clients.base import (
    DEFAULT_TIMEOUT,
    OMIT,
    ApiClient,
    ClientError,
    HeaderAuth,
    IdempotencyKey,
    InfrastructureError,
    Omit,
    OperationSpec,
    RetryPolicy,
)
from harness.clients.bettercharge import BetterChargeClient, rate_limit_budget
from harness.clients.betterpayment import BetterPaymentClient, idempotency_headers
from harness.clients.budget import BudgetTimeout, ObservingBudget, RequestBudget

__all__ = [
    "DEFAULT_TIMEOUT",
    "OMIT",
    "ApiClient",
    "BetterChargeClient",
    "BetterPaymentClient",
    "BudgetTimeout",
    "ClientError",
    "HeaderAuth",
    "IdempotencyKey",
    "InfrastructureError",
    "ObservingBudget",
    "Omit",
    "OperationSpec",
    "RequestBudget",
    "RetryPolicy",
    "idempotency_headers",
    "rate_limit_budget",
]
