"""What any `BillingRepository` answers for an invoice or credit note that was never issued:
NotFound, which the download route answers 404. Run against the in-memory repository and
DynamoDB (moto, in-process)."""

from __future__ import annotations

import pytest

from billing.persistence.repository import BillingRepository, NotFound

pytestmark = pytest.mark.contract


@pytest.mark.parametrize("number", [1, 42, 0])
def test_a_document_never_issued_is_not_found(repository: BillingRepository, number: int) -> None:
    with pytest.raises(NotFound, match="Invoice not found"):
        repository.get_document(number)
