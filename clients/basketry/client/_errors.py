"""The client's exception tree and the mapping from gRPC status codes onto it.

    BasketryClientError             every error the client raises; `.code` is the gRPC code
     ├── InvalidArgument            INVALID_ARGUMENT; `.field_violations` from BadRequest
     ├── NotFound                   NOT_FOUND (unknown id where no fallback makes sense)
     ├── Unavailable                UNAVAILABLE (no snapshot loaded, draining, unreachable);
     │                              the only code the client retries
     ├── DeadlineExceeded           DEADLINE_EXCEEDED (the call's timeout passed)
     └── Unimplemented              UNIMPLEMENTED (the server lacks this RPC)

Any other code (RESOURCE_EXHAUSTED, INTERNAL, …) raises `BasketryClientError` itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldViolation:
    """One bad request field: its name (e.g. "limit", "filter.min_price") and why."""

    field: str
    description: str


class BasketryClientError(Exception):
    """Root of every error the Basketry client raises."""

    def __init__(
        self, message: str, *, code: grpc.StatusCode | None = None, method: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.method = method

    def __str__(self) -> str:
        code = self.code.name if self.code is not None else "CLIENT"
        where = f" from {self.method}" if self.method else ""
        return f"{code}{where}: {self.message}"


class InvalidArgument(BasketryClientError):
    """The request was malformed; `field_violations` names the offending fields."""

    def __init__(
        self,
        message: str,
        *,
        field_violations: tuple[FieldViolation, ...] = (),
        code: grpc.StatusCode | None = grpc.StatusCode.INVALID_ARGUMENT,
        method: str = "",
    ) -> None:
        super().__init__(message, code=code, method=method)
        self.field_violations = field_violations

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(violation.field for violation in self.field_violations)

    def __str__(self) -> str:
        text = super().__str__()
        # Servers usually spell the violations out in the message already; add the rest.
        unmentioned = [v for v in self.field_violations if v.description not in self.message]
        if not unmentioned:
            return text
        details = "; ".join(f"{v.field}: {v.description}" for v in unmentioned)
        return f"{text} ({details})"


class NotFound(BasketryClientError):
    """The server does not know the requested customer or item."""


class Unavailable(BasketryClientError):
    """The server cannot answer now (no snapshot, draining, unreachable); retryable."""


class DeadlineExceeded(BasketryClientError):
    """The call did not finish within its timeout."""


class Unimplemented(BasketryClientError):
    """The server does not implement this RPC."""


_BY_CODE: dict[grpc.StatusCode, type[BasketryClientError]] = {
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
}


def error_from_rpc(error: grpc.RpcError, method: str) -> BasketryClientError:
    """Translates a failed call into the exception tree (the caller raises it `from` error)."""
    if not isinstance(error, grpc.Call):
        return BasketryClientError(str(error), method=method)
    code = error.code()
    message = error.details() or ""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument(message, field_violations=_field_violations(error), method=method)
    return _BY_CODE.get(code, BasketryClientError)(message, code=code, method=method)


def _field_violations(call: grpc.Call) -> tuple[FieldViolation, ...]:
    try:
        status = rpc_status.from_call(call)
    except ValueError as mismatch:
        # The rich status disagrees with the call's code or message: keep the plain error.
        # The mismatch quotes the server's message, which may name a customer: DEBUG only.
        logger.warning("ignoring rich error details that disagree with the call's status")
        logger.debug("rich error details mismatch: %s", mismatch)
        return ()
    if status is None:
        return ()
    violations: list[FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.extend(
                FieldViolation(field=v.field, description=v.description)
                for v in bad_request.field_violations
            )
    return tuple(violations)
