"""The two cross-cutting concerns of every RecommenderService RPC, applied in one place.

MetricsInterceptor (outermost) counts and times each call by its final status code;
ErrorInterceptor turns BasketryError into its status and any other exception into
INTERNAL, logged with its traceback. Health and reflection RPCs pass through untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from basketry.server.errors import BasketryError
from basketry.server.metrics import ServerMetrics

log = logging.getLogger(__name__)

SERVICE_PREFIX = "/basketry.v1.RecommenderService/"

Unary = Callable[[Any, grpc.ServicerContext], Any]
Streaming = Callable[[Any, grpc.ServicerContext], Iterator[Any]]


class _WrappingInterceptor(grpc.ServerInterceptor):
    """Wraps the unary-unary and unary-stream behaviours of our own service's methods."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        full_name: str = handler_call_details.method
        if handler is None or not full_name.startswith(SERVICE_PREFIX):
            return handler
        method = full_name.removeprefix(SERVICE_PREFIX)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self.wrap_unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self.wrap_stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def wrap_unary(self, method: str, behaviour: Unary) -> Unary:
        raise NotImplementedError

    def wrap_stream(self, method: str, behaviour: Streaming) -> Streaming:
        raise NotImplementedError


class ErrorInterceptor(_WrappingInterceptor):
    def wrap_unary(self, method: str, behaviour: Unary) -> Unary:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                return behaviour(request, context)
            except BasketryError as error:
                _abort(context, error)
            except Exception:
                _abort_internal(context, method)

        return handle

    def wrap_stream(self, method: str, behaviour: Streaming) -> Streaming:
        def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                yield from behaviour(request, context)
            except BasketryError as error:
                _abort(context, error)
            except Exception:
                _abort_internal(context, method)

        return handle


def _abort(context: grpc.ServicerContext, error: BasketryError) -> None:
    context.abort_with_status(error.to_status())


def _abort_internal(context: grpc.ServicerContext, method: str) -> None:
    log.exception("%s failed with an unexpected error", method)
    context.abort(
        grpc.StatusCode.INTERNAL, f"{method}: internal server error (details in the server log)"
    )


class MetricsInterceptor(_WrappingInterceptor):
    def __init__(self, metrics: ServerMetrics) -> None:
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
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return "OK" if context.is_active() else "CANCELLED"
