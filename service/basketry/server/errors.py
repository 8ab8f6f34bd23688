"""The server's error tree; each error knows the gRPC status it becomes.

    BasketryError            (INTERNAL unless a subclass says otherwise)
    ├── InvalidArgument      INVALID_ARGUMENT + google.rpc.BadRequest field violations
    ├── NotFound             NOT_FOUND
    ├── Unauthenticated      UNAUTHENTICATED (no API key, or one the server does not know)
    ├── PermissionDenied     PERMISSION_DENIED (the key's role may not call this method)
    ├── Unavailable          UNAVAILABLE (no snapshot loaded yet; clients may retry)
    │   └── OrderStoreUnavailable  (orders.py: the shared recorded-order store is down)
    └── Unimplemented        UNIMPLEMENTED

Handlers raise these; `interceptors.ErrorInterceptor` is the one place that turns them
(and any unexpected exception) into a status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


class BasketryError(Exception):
    """Root of every error the server reports to a client."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> list[any_pb2.Any]:
        """Rich error details (google.rpc.*) packed for the status; none by default."""
        return []

    def to_status(self) -> grpc.Status:
        """The gRPC status (with details in the trailing metadata) for this error."""
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        status.details.extend(self.details())
        result: grpc.Status = rpc_status.to_status(status)
        return result


@dataclass(frozen=True)
class FieldViolation:
    """One bad request field, e.g. field="filter.exclude_item_ids[3]"."""

    field: str
    description: str


class InvalidArgument(BasketryError):
    """The request is malformed; names every offending field."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: Sequence[FieldViolation]) -> None:
        if not violations:
            raise ValueError("InvalidArgument needs at least one field violation")
        self.violations = tuple(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(f"invalid request: {summary}")

    def details(self) -> list[any_pb2.Any]:
        bad_request = error_details_pb2.BadRequest()
        for violation in self.violations:
            bad_request.field_violations.add(
                field=violation.field, description=violation.description
            )
        packed = any_pb2.Any()
        packed.Pack(bad_request)
        return [packed]


class NotFound(BasketryError):
    code = grpc.StatusCode.NOT_FOUND


class Unauthenticated(BasketryError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(BasketryError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unavailable(BasketryError):
    code = grpc.StatusCode.UNAVAILABLE


class Unimplemented(BasketryError):
    code = grpc.StatusCode.UNIMPLEMENTED
