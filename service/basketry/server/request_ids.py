"""A request id for every RPC, on every log line written while handling it.

The caller's `x-request-id` metadata is taken when it is sane (1..128 printable ASCII
characters, no spaces), so one id can follow a request through a shop's services;
otherwise a fresh one is made. The id is sent back as initial metadata `x-request-id` and
held in a context variable while the RPC's code runs (unary, and each step of a streaming
answer), where a log-record factory puts it on each record as `record.request_id`.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import grpc

from basketry.server.interceptors import Streaming, Unary, WrappingInterceptor

METADATA_KEY = "x-request-id"
MAX_LENGTH = 128
_SANE = re.compile(rf"[\x21-\x7e]{{1,{MAX_LENGTH}}}")

_current: ContextVar[str | None] = ContextVar("basketry_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the RPC this thread is handling, if any."""
    return _current.get()


def is_sane(value: str) -> bool:
    return _SANE.fullmatch(value) is not None


def install_log_record_factory() -> None:
    """Make every log record carry `request_id` (None outside an RPC). Idempotent."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "adds_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = _current.get()
        return record

    factory.adds_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class RequestIdInterceptor(WrappingInterceptor):
    """Outermost interceptor: every other one, and the servicer, run with the id set.
    Applies to every method (health and reflection too)."""

    def __init__(self) -> None:
        super().__init__()
        install_log_record_factory()

    def applies_to(self, full_name: str) -> bool:
        return True

    def wrap_unary(self, method: str, behaviour: Unary) -> Unary:
        return _with_id_unary(behaviour)

    def wrap_stream(self, method: str, behaviour: Streaming) -> Streaming:
        return _with_id_streaming(behaviour)


def _with_id_unary(behaviour: Unary) -> Unary:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        token = _current.set(_accept(context))
        try:
            return behaviour(request, context)
        finally:
            _current.reset(token)

    return handle


def _with_id_streaming(behaviour: Streaming) -> Streaming:
    # The id is set only while the answer's own code runs (between yields, this thread
    # serves gRPC itself), and is taken out again before each response leaves.
    def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        request_id = _accept(context)
        responses = iter(behaviour(request, context))
        try:
            while True:
                token = _current.set(request_id)
                try:
                    response = next(responses)
                except StopIteration:
                    return
                finally:
                    _current.reset(token)
                yield response
        finally:
            # Cancelled mid-stream: close the answer here, with the id, not later at
            # garbage collection in whichever thread that happens in.
            close = getattr(responses, "close", None)
            if close is not None:
                token = _current.set(request_id)
                try:
                    close()
                finally:
                    _current.reset(token)

    return handle


def _accept(context: grpc.ServicerContext) -> str:
    """The caller's id if it is sane, else a new one; sent back as initial metadata."""
    given = next(
        (
            value
            for key, value in context.invocation_metadata()
            if key == METADATA_KEY and isinstance(value, str)
        ),
        None,
    )
    request_id = given if given is not None and is_sane(given) else uuid.uuid4().hex
    context.send_initial_metadata(((METADATA_KEY, request_id),))
    return request_id
