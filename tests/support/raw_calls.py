"""Calling RecommenderService with raw request bytes, and reading the status that comes back.

A generic channel method (no serializer) sends any bytes, valid message or not, so tests can
send what no generated stub would: invalid UTF-8 in a string field, truncated or random
bytes. Every call is bounded by a timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from basketry.v1 import recommender_pb2

SERVICE = recommender_pb2.DESCRIPTOR.services_by_name["RecommenderService"]
STREAMING_METHODS = frozenset(m.name for m in SERVICE.methods if m.server_streaming)
METHODS = tuple(m.name for m in SERVICE.methods)


@dataclass(frozen=True)
class Outcome:
    """How a call ended: its code, details and BadRequest field violations (field -> why),
    and the raw response messages received before it ended."""

    code: grpc.StatusCode
    details: str = ""
    violations: dict[str, str] = field(default_factory=dict)
    responses: tuple[bytes, ...] = ()


def call_raw(channel: grpc.Channel, method: str, data: bytes, *, timeout: float = 30.0) -> Outcome:
    """Send `data` as the request of `method` (a RecommenderService method name)."""
    path = f"/{SERVICE.full_name}/{method}"
    try:
        if method in STREAMING_METHODS:
            stream: Callable[..., Iterable[bytes]] = channel.unary_stream(path)
            return Outcome(grpc.StatusCode.OK, responses=tuple(stream(data, timeout=timeout)))
        unary: Callable[..., bytes] = channel.unary_unary(path)
        return Outcome(grpc.StatusCode.OK, responses=(unary(data, timeout=timeout),))
    except grpc.RpcError as error:
        return outcome_of(error)


def outcome_of(error: grpc.RpcError) -> Outcome:
    """The code, details and field violations of a failed call."""
    assert isinstance(error, grpc.Call), error
    violations: dict[str, str] = {}
    status = rpc_status.from_call(error)
    if status is not None:
        for detail in status.details:
            bad_request = error_details_pb2.BadRequest()
            if detail.Unpack(bad_request):
                violations.update({v.field: v.description for v in bad_request.field_violations})
    return Outcome(error.code(), error.details() or "", violations)
