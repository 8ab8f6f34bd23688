"""`BasketryClient`: one method per RecommenderService RPC, plain dataclasses in and out."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from types import TracebackType
from typing import Self, TypeVar

import grpc

from basketry.client import _convert
from basketry.client._credentials import PathLike, call_metadata, channel_credentials
from basketry.client._errors import BasketryClientError, error_from_rpc
from basketry.client._retry import RetryPolicy, call_with_retries
from basketry.client._types import (
    Bundle,
    CustomerRecommendation,
    ItemFilter,
    Lookalike,
    ModelInfo,
    Order,
    Recommendation,
    RecordResult,
    SimilarCustomers,
    SimilarItems,
    Strategy,
    id_tuple,
)
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

Request = TypeVar("Request")
Response = TypeVar("Response")

ClientInterceptor = grpc.UnaryUnaryClientInterceptor | grpc.UnaryStreamClientInterceptor


class BasketryClient:
    """A synchronous client for the Basketry RecommenderService.

    Every call has a deadline: `timeout` seconds per attempt for single answers and
    `batch_timeout` seconds for a whole `recommend_batch` stream (each method also takes a
    `timeout=` override). A call answered UNAVAILABLE is retried up to `retries` times
    with jittered exponential backoff; a batch stream is retried only if no answer has
    arrived yet. Failures raise the `BasketryClientError` tree (see `basketry.client`).
    Batches travel as RecommendBatchChunked (many customers per message), or as
    RecommendBatch with a server that does not offer it.

    Use as a context manager, or call `close()`, to release the channel.
    """

    def __init__(
        self,
        target: str,
        *,
        timeout: float = 2.0,
        retries: int = 2,
        batch_timeout: float = 120.0,
        tls: bool = False,
        tls_ca_file: PathLike | None = None,
        tls_cert_file: PathLike | None = None,
        tls_key_file: PathLike | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        api_key: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        interceptors: Sequence[ClientInterceptor] = (),
    ) -> None:
        """TLS: `tls=True` trusts the system's root certificates; `tls_ca_file` (PEM) trusts
        that CA instead; `tls_cert_file` and `tls_key_file` (PEM) present a client
        certificate, for a server with mutual TLS. Any file implies TLS; `credentials`
        replaces all of them. `api_key` is sent as `authorization: Bearer <key>` with every
        call, batch streams included; `metadata` is sent with every call too;
        `interceptors` wrap the channel (tracing, auth). ValueError for a bad value or an
        unreadable file."""
        if not target:
            raise ValueError("target must be host:port, got an empty string")
        if timeout <= 0 or batch_timeout <= 0:
            raise ValueError("timeouts must be > 0 seconds")
        self._target = target
        self._timeout = timeout
        self._batch_timeout = batch_timeout
        self._retry = RetryPolicy(retries=retries)
        self._metadata = call_metadata(metadata, api_key)
        credentials = channel_credentials(
            tls=tls,
            ca_file=tls_ca_file,
            cert_file=tls_cert_file,
            key_file=tls_key_file,
            credentials=credentials,
        )
        if credentials is None:
            self._channel = grpc.insecure_channel(target)
        else:
            self._channel = grpc.secure_channel(target, credentials)
        channel = grpc.intercept_channel(self._channel, *interceptors)
        self._stub = recommender_pb2_grpc.RecommenderServiceStub(channel)
        # Batches use RecommendBatchChunked until the server says it does not know it.
        self._chunked_batches = True
        self._closed = False

    @property
    def target(self) -> str:
        return self._target

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def recommend(
        self,
        customer_id: str,
        *,
        limit: int = 10,
        filter: ItemFilter | None = None,
        context_item_ids: Sequence[str] = (),
        strategy: Strategy | str = Strategy.BALANCED,
        explain: bool = False,
        timeout: float | None = None,
    ) -> Recommendation:
        """Picks for one customer; an unknown customer gets popular items with `fallback`."""
        request = pb.RecommendRequest(
            customer_id=customer_id,
            limit=limit,
            filter=_convert.filter_to_pb(filter),
            context_item_ids=id_tuple(context_item_ids, "context_item_ids"),
            strategy=_convert.strategy_to_pb(strategy),
            explain=explain,
        )
        response = self._unary("Recommend", self._stub.Recommend, request, timeout)
        return _convert.recommendation_from_pb(response)

    def recommend_batch(
        self,
        customer_ids: Sequence[str],
        *,
        limit: int = 10,
        filter: ItemFilter | None = None,
        strategy: Strategy | str = Strategy.BALANCED,
        explain: bool = False,
        campaign: str = "",
        timeout: float | None = None,
    ) -> Generator[CustomerRecommendation, None, None]:
        """Picks for up to 10,000 customers, yielded in request order as they arrive.

        The call starts on the first `next()`; server errors are raised from there.
        `close()` on the returned generator (or dropping it) cancels the stream.
        """
        request = pb.RecommendBatchRequest(
            customer_ids=id_tuple(customer_ids, "customer_ids"),
            limit=limit,
            filter=_convert.filter_to_pb(filter),
            strategy=_convert.strategy_to_pb(strategy),
            explain=explain,
            campaign=campaign,
        )
        self._check_open()
        return self._stream_batch(request, self._batch_timeout if timeout is None else timeout)

    def bundle(
        self,
        item_ids: Sequence[str],
        *,
        limit: int = 10,
        filter: ItemFilter | None = None,
        timeout: float | None = None,
    ) -> Bundle:
        """Items bought together with a basket of 1..100 items."""
        request = pb.BundleRequest(
            item_ids=id_tuple(item_ids, "item_ids"),
            limit=limit,
            filter=_convert.filter_to_pb(filter),
        )
        response = self._unary("Bundle", self._stub.Bundle, request, timeout)
        return _convert.bundle_from_pb(response)

    def similar_items(
        self,
        item_id: str,
        *,
        limit: int = 10,
        filter: ItemFilter | None = None,
        timeout: float | None = None,
    ) -> SimilarItems:
        """Items most like `item_id`; raises NotFound for an item the model does not know."""
        request = pb.SimilarItemsRequest(
            item_id=item_id, limit=limit, filter=_convert.filter_to_pb(filter)
        )
        response = self._unary("SimilarItems", self._stub.SimilarItems, request, timeout)
        return _convert.similar_items_from_pb(response)

    def similar_customers(
        self, customer_id: str, *, limit: int = 10, timeout: float | None = None
    ) -> SimilarCustomers:
        """Customers most like `customer_id`; raises NotFound for an unknown customer."""
        request = pb.SimilarCustomersRequest(customer_id=customer_id, limit=limit)
        response = self._unary("SimilarCustomers", self._stub.SimilarCustomers, request, timeout)
        return _convert.similar_customers_from_pb(response)

    def lookalike(
        self,
        *,
        seed_customer_ids: Sequence[str] = (),
        seed_item_ids: Sequence[str] = (),
        limit: int = 100,
        timeout: float | None = None,
    ) -> Lookalike:
        """Customers most like a seed audience (seed customers plus the seed items' buyers)."""
        request = pb.LookalikeRequest(
            seed_customer_ids=id_tuple(seed_customer_ids, "seed_customer_ids"),
            seed_item_ids=id_tuple(seed_item_ids, "seed_item_ids"),
            limit=limit,
        )
        response = self._unary("Lookalike", self._stub.Lookalike, request, timeout)
        return _convert.lookalike_from_pb(response)

    def record_orders(
        self, orders: Sequence[Order], *, timeout: float | None = None
    ) -> RecordResult:
        """Records 1..1,000 orders; recording an order id twice has no further effect."""
        request = _convert.orders_to_pb(orders)
        response = self._unary("RecordOrders", self._stub.RecordOrders, request, timeout)
        return _convert.record_result_from_pb(response)

    def model_info(self, *, timeout: float | None = None) -> ModelInfo:
        """The serving snapshot's version, creation time, counts, parameters and metrics."""
        request = pb.GetModelInfoRequest()
        response = self._unary("GetModelInfo", self._stub.GetModelInfo, request, timeout)
        return _convert.model_info_from_pb(response)

    def _check_open(self) -> None:
        if self._closed:
            raise BasketryClientError(f"the client for {self._target} is closed")

    def _unary(
        self,
        method: str,
        rpc: grpc.UnaryUnaryMultiCallable[Request, Response],
        request: Request,
        timeout: float | None,
    ) -> Response:
        self._check_open()
        deadline = self._timeout if timeout is None else timeout
        return call_with_retries(
            lambda: rpc(request, timeout=deadline, metadata=self._metadata),
            method=method,
            policy=self._retry,
        )

    def _stream_batch(
        self, request: pb.RecommendBatchRequest, deadline: float
    ) -> Generator[CustomerRecommendation, None, None]:
        attempt = 0
        while True:
            chunked = self._chunked_batches
            method = "RecommendBatchChunked" if chunked else "RecommendBatch"
            received = False
            answers = self._batch_answers(chunked, request, deadline)
            try:
                for answer in answers:
                    received = True
                    yield answer
                return
            except grpc.RpcError as error:
                if chunked and _is_unimplemented(error):
                    # A server older than RecommendBatchChunked: the same batch, a message
                    # per customer, for this and every later batch.
                    self._chunked_batches = False
                    continue
                # After the first answer a retry would repeat customers already yielded.
                if received or not self._retry.should_retry(error, attempt):
                    raise error_from_rpc(error, method) from error
                self._retry.wait_before_retry(attempt, method, error)
                attempt += 1
            finally:
                answers.close()

    def _batch_answers(
        self, chunked: bool, request: pb.RecommendBatchRequest, deadline: float
    ) -> Generator[CustomerRecommendation, None, None]:
        """One attempt's answers; closing the generator cancels the call, which stops the
        server's work when the caller abandons the iteration early."""
        convert = _convert.customer_recommendation_from_pb
        if chunked:
            chunks = self._stub.RecommendBatchChunked(
                request, timeout=deadline, metadata=self._metadata
            )
            try:
                for chunk in chunks:
                    yield from map(convert, chunk.answers)
            finally:
                chunks.cancel()
            return
        responses = self._stub.RecommendBatch(request, timeout=deadline, metadata=self._metadata)
        try:
            yield from map(convert, responses)
        finally:
            responses.cancel()


def _is_unimplemented(error: grpc.RpcError) -> bool:
    return isinstance(error, grpc.Call) and error.code() == grpc.StatusCode.UNIMPLEMENTED
