"""Whether anyone still waits for a call's answer, and the errors that end one nobody does.

gRPC does not stop a handler when its call is cancelled or its deadline passes: it only
stops sending. So long RPCs (both batch streams between chunks, Lookalike between stages)
call `stop_if_abandoned`, which raises DeadlineExceeded or Cancelled; the ErrorInterceptor
turns them into their status like any BasketryError, so metrics count the call under
DEADLINE_EXCEEDED or CANCELLED. The client has already been told (by its own deadline or
cancellation): the point is to stop computing.
"""

from __future__ import annotations

import grpc

from basketry.server.errors import BasketryError


class DeadlineExceeded(BasketryError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(BasketryError):
    code = grpc.StatusCode.CANCELLED


def abandoned(context: grpc.ServicerContext, doing: str) -> BasketryError | None:
    """The error ending the call if its deadline passed or its client went away, else None.

    `doing` says what the call was doing, for the message (e.g. "RecommendBatch after 640
    of 10000 customers")."""
    if context.time_remaining() <= 0:  # a huge number when the call has no deadline
        return DeadlineExceeded(f"{doing}: deadline exceeded")
    if not context.is_active():
        return Cancelled(f"{doing}: cancelled by the client")
    return None


def stop_if_abandoned(context: grpc.ServicerContext, doing: str) -> None:
    """Raise DeadlineExceeded or Cancelled if nobody waits for this call any more."""
    error = abandoned(context, doing)
    if error is not None:
        raise error


def final_code(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """How a call ended that set no status of its own: None while its client still waits
    (it ends OK), else DEADLINE_EXCEEDED or CANCELLED."""
    error = abandoned(context, "")
    return None if error is None else error.code
