"""The two cross-cutting concerns of every RecommenderService RPC, applied in one place.

MetricsInterceptor (outermost) counts and times each call by its final status code;
ErrorInterceptor turns BasketryError into its status and any other exception into
INTERNAL, logged with its traceback. It also answers the calls no handler should see:
a request whose bytes do not parse (INVALID_ARGUMENT naming the field, see
basketry.server.request_decoding) and a call nobody waits for any more by the time it
starts (DEADLINE_EXCEEDED or CANCELLED, see basketry.server.call_state). Health and
reflection RPCs pass through untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from basketry.server import call_state
from basketry.server.errors import BasketryError
from basketry.server.metrics import ServerMetrics
from basketry.server.request_decoding import UndecodableRequest, tolerant_deserializer
from basketry.server.requests import invalid_argument
from basketry.v1 import recommender_pb2

log = logging.getLogger(__name__)

SERVICE_PREFIX = "/basketry.v1.RecommenderService/"
_SERVICE = recommender_pb2.DESCRIPTOR.services_by_name["RecommenderService"]

Unary = Callable[[Any, grpc.ServicerContext], Any]
Streaming = Callable[[Any, grpc.ServicerContext], Iterator[Any]]


class WrappingInterceptor(grpc.ServerInterceptor):
    """Wraps the unary-unary and unary-stream behaviours of the methods it `applies_to`.

    A method's wrapped handler is built once and reused: the servicers are registered before
    the server starts, so the handler behind a method name never changes, and rebuilding the
    chain on every call cost about 0.15 ms of a ~2 ms Recommend.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, grpc.RpcMethodHandler[Any, Any] | None] = {}

    def applies_to(self, full_name: str) -> bool:
        return full_name.startswith(SERVICE_PREFIX)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        full_name: str = handler_call_details.method
        if full_name in self._handlers:
            return self._handlers[full_name]
        handler = continuation(handler_call_details)
        if handler is None:
            return None  # unknown method: not cached, so made-up names cannot grow the dict
        wrapped = self._wrap(full_name, handler) if self.applies_to(full_name) else handler
        self._handlers[full_name] = wrapped
        return wrapped

    def _wrap(
        self, full_name: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        method = full_name.removeprefix(SERVICE_PREFIX)
        deserializer = self.request_deserializer(method, handler)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self.wrap_unary(method, handler.unary_unary),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self.wrap_stream(method, handler.unary_stream),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # no client-streaming methods are served

    def request_deserializer(
        self, method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> Callable[[bytes], Any] | None:
        """The deserializer the wrapped method uses: the inner handler's, unless overridden."""
        return handler.request_deserializer

    def wrap_unary(self, method: str, behaviour: Unary) -> Unary:
        raise NotImplementedError

    def wrap_stream(self, method: str, behaviour: Streaming) -> Streaming:
        raise NotImplementedError


class ErrorInterceptor(WrappingInterceptor):
    def request_deserializer(
        self, method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> Callable[[bytes], Any] | None:
        """One that never raises: undecodable bytes become an UndecodableRequest."""
        parse = handler.request_deserializer
        method_descriptor = _SERVICE.methods_by_name.get(method)
        if parse is None or method_descriptor is None:
            return parse
        return tolerant_deserializer(method_descriptor.input_type, parse)

    def wrap_unary(self, method: str, behaviour: Unary) -> Unary:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                _refuse_unanswerable(method, request, context)
                return behaviour(request, context)
            except BasketryError as error:
                _abort(context, error)
            except Exception:
                _abort_internal(context, method)

        return handle

    def wrap_stream(self, method: str, behaviour: Streaming) -> Streaming:
        def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                _refuse_unanswerable(method, request, context)
                yield from behaviour(request, context)
            except BasketryError as error:
                _abort(context, error)
            except Exception:
                _abort_internal(context, method)

        return handle


def _refuse_unanswerable(method: str, request: Any, context: grpc.ServicerContext) -> None:
    """Raise for a request that did not parse, or a call whose client no longer waits."""
    if isinstance(request, UndecodableRequest):
        raise invalid_argument(request.violations, request.unlisted)
    call_state.stop_if_abandoned(context, f"{method} before it started")


def _abort(context: grpc.ServicerContext, error: BasketryError) -> None:
    context.abort_with_status(error.to_status())


def _abort_internal(context: grpc.ServicerContext, method: str) -> None:
    log.exception("%s failed with an unexpected error", method)
    context.abort(
        grpc.StatusCode.INTERNAL, f"{method}: internal server error (details in the server log)"
    )


class MetricsInterceptor(WrappingInterceptor):
    def __init__(self, metrics: ServerMetrics) -> None:
        super().__init__()
        self.metrics = metrics

    def wrap_unary(self, method: str, behaviour: Unary) -> Unary:
        series = self.metrics.method(method)

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            series.in_flight.inc()
            started = time.perf_counter()
            try:
                return behaviour(request, context)
            finally:
                series.finished(_final_code(context), time.perf_counter() - started)

        return handle

    def wrap_stream(self, method: str, behaviour: Streaming) -> Streaming:
        series = self.metrics.method(method)

        def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            series.in_flight.inc()
            started = time.perf_counter()
            try:
                yield from behaviour(request, context)
            finally:
                series.finished(_final_code(context), time.perf_counter() - started)

        return handle


def _final_code(context: grpc.ServicerContext) -> str:
    code = context.code()  # type: ignore[attr-defined]
    if not isinstance(code, grpc.StatusCode):  # no status set: ended OK, unless abandoned
        code = call_state.final_code(context) or grpc.StatusCode.OK
    return str(code.name)
