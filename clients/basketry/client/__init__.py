"""Python client for the Basketry recommendation service.

    from basketry.client import BasketryClient, ItemFilter, Strategy

    with BasketryClient("127.0.0.1:50051") as client:
        picks = client.recommend("17850", limit=5, strategy=Strategy.DISCOVER_NEW,
                                 filter=ItemFilter(in_stock_only=True), explain=True)
        for item in picks.items:
            print(item.item_id, item.name, item.score, item.reason, item.because_item_ids)

Results are frozen dataclasses; enums are `str` enums ("buy-again", "cold-customer").
Calls have deadlines and retry UNAVAILABLE only. Errors form one tree:

    BasketryClientError             every error the client raises; `.code` is the gRPC code
     ├── InvalidArgument            bad request; `.field_violations` (field, description)
     ├── NotFound                   unknown customer/item where no fallback makes sense
     ├── Unavailable                no snapshot loaded, server draining or unreachable
     ├── DeadlineExceeded           the call's timeout passed
     └── Unimplemented              the server lacks this RPC

Other gRPC codes raise `BasketryClientError` itself. `FakeBasketryClient` has the same
methods over canned in-memory data, for tests of code that uses the client.
"""

from basketry.client._client import BasketryClient
from basketry.client._errors import (
    BasketryClientError,
    DeadlineExceeded,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unavailable,
    Unimplemented,
)
from basketry.client._fake import FakeBasketryClient, FakeCall
from basketry.client._types import (
    Bundle,
    BundleItem,
    CustomerRecommendation,
    Fallback,
    ItemFilter,
    Lookalike,
    ModelInfo,
    Order,
    OrderLine,
    Reason,
    Recommendation,
    RecordResult,
    ScoredCustomer,
    ScoredItem,
    SimilarCustomers,
    SimilarItems,
    Strategy,
)

__all__ = [
    "BasketryClient",
    "BasketryClientError",
    "Bundle",
    "BundleItem",
    "CustomerRecommendation",
    "DeadlineExceeded",
    "FakeBasketryClient",
    "FakeCall",
    "Fallback",
    "FieldViolation",
    "InvalidArgument",
    "ItemFilter",
    "Lookalike",
    "ModelInfo",
    "NotFound",
    "Order",
    "OrderLine",
    "Reason",
    "Recommendation",
    "RecordResult",
    "ScoredCustomer",
    "ScoredItem",
    "SimilarCustomers",
    "SimilarItems",
    "Strategy",
    "Unavailable",
    "Unimplemented",
]
