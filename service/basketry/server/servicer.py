"""The RecommenderService: protobuf in, domain function, protobuf out. No scoring here.

Each RPC reads the serving model once, so a snapshot swap mid-request cannot mix versions.
Errors are raised as BasketryError and mapped to statuses by interceptors.ErrorInterceptor.
The long RPCs (both batch streams, between chunks and messages; SimilarCustomers and
Lookalike, between scoring and building up to 10,000 answers) stop when their deadline
has passed or their client went away (basketry.server.call_state).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing

import grpc

from basketry.server import call_state, requests
from basketry.server.answer_cache import ReadThroughCache, answer_key
from basketry.server.batch import DeliveredPicks, answer_chunks
from basketry.server.batch_wire import (
    FALLBACK_VALUES,
    REASON_VALUES,
    EncoderCache,
    grouped_answers,
    one_per_answer,
)
from basketry.server.bundle import bundle
from basketry.server.domain import (
    BundlePick,
    Fallback,
    Pick,
    RecommendQuery,
    ScoredIndex,
)
from basketry.server.errors import BasketryError
from basketry.server.filters import allowed_items
from basketry.server.holder import ModelHolder
from basketry.server.metrics import ServerMetrics
from basketry.server.model import ServingModel
from basketry.server.orders import OrderStore
from basketry.server.recommend import recommend
from basketry.server.rotation import CampaignRotation
from basketry.server.sent_picks import SentPicksStore
from basketry.server.similarity import lookalike, similar_customers, similar_items
from basketry.server.watched_orders import WatchedOrders
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

FALLBACK_OF = {value: fallback for fallback, value in FALLBACK_VALUES.items()}


class RecommenderServicer(pb_grpc.RecommenderServiceServicer):
    def __init__(
        self,
        holder: ModelHolder,
        metrics: ServerMetrics,
        orders: OrderStore,
        sent_picks: SentPicksStore | None = None,
        answer_cache: ReadThroughCache | None = None,
    ) -> None:
        self.holder = holder
        self.metrics = metrics
        self.orders = orders
        self.sent_picks = sent_picks  # None: mail rotation off
        self.answer_cache = answer_cache  # None: every Recommend is computed
        self._encoders = EncoderCache()  # batch answers' wire encoding, per model

    def Recommend(
        self, request: pb.RecommendRequest, context: grpc.ServicerContext
    ) -> pb.RecommendResponse:
        query = requests.recommend_query(request)
        model = self.holder.current()
        if self.answer_cache is None:
            response = self._recommend(model, query)
        else:
            cached = self.answer_cache.answer(
                answer_key(model.version, query), lambda: self._cacheable(model, query)
            )
            response = pb.RecommendResponse.FromString(cached)
        self._count("Recommend", len(response.items), FALLBACK_OF[response.fallback])
        return response

    def _cacheable(self, model: ServingModel, query: RecommendQuery) -> tuple[bytes, bool]:
        """The answer, and False if it ignores recorded orders because their store is down."""
        orders = WatchedOrders(self.orders)
        response = self._recommend(model, query, orders)
        return response.SerializeToString(), not orders.failed

    def _recommend(
        self, model: ServingModel, query: RecommendQuery, orders: OrderStore | None = None
    ) -> pb.RecommendResponse:
        store = self.orders if orders is None else orders
        answer = recommend(model, query, allowed_items(model, query.item_filter), store)
        return pb.RecommendResponse(
            items=_scored_items(model, answer.picks),
            model_version=model.version,
            fallback=FALLBACK_VALUES[answer.fallback],
        )

    def RecommendBatch(
        self, request: pb.RecommendBatchRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.RecommendBatchResponse]:
        """One message per customer."""
        messages = self._batch_messages(request, context, "RecommendBatch", one_per_answer)
        with closing(messages):
            for message in messages:
                yield pb.RecommendBatchResponse.FromString(message)

    def RecommendBatchChunked(
        self, request: pb.RecommendBatchRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.RecommendBatchChunk]:
        """One message per chunk of customers (or less, to keep messages small)."""
        messages = self._batch_messages(request, context, "RecommendBatchChunked", grouped_answers)
        with closing(messages):
            for message in messages:
                yield pb.RecommendBatchChunk.FromString(message)

    def _batch_messages(
        self,
        request: pb.RecommendBatchRequest,
        context: grpc.ServicerContext,
        method: str,
        packed: Callable[[list[bytes]], Iterator[tuple[range, bytes]]],
    ) -> Generator[bytes, None, None]:
        """Both batch RPCs: the serialised messages (`packed` groups a chunk's serialised
        answers into messages), with mail rotation, cancellation and metrics."""
        query = requests.batch_query(request)
        model = self.holder.current()
        encoder = self._encoders.for_model(model)
        allowed = allowed_items(model, query.template.item_filter)
        rotation = None
        if query.campaign and self.sent_picks is not None:
            rotation = CampaignRotation(self.sent_picks, query.campaign)
        chunks = answer_chunks(
            model, query.customer_ids, query.template, allowed, self.orders, rotation
        )
        delivered = DeliveredPicks(model, rotation)
        answered = computed = 0

        def abandoned() -> BasketryError | None:
            doing = f"{method} after {answered} of {len(query.customer_ids)} customers"
            return call_state.abandoned(context, doing)

        def stop_if_abandoned() -> None:
            error = abandoned()
            if error is not None:
                raise error

        # Closed and flushed on every exit, so a cancelled batch still remembers what it
        # streamed. A message counts as delivered once gRPC asks for the next one (it has
        # written this one) or the batch ends.
        with closing(chunks):
            try:
                for chunk in chunks:
                    computed += len(chunk.customer_ids)
                    serialised = encoder.answers(chunk.customer_ids, chunk.answers)
                    for rows, message in packed(serialised):
                        stop_if_abandoned()
                        for row in rows:
                            # Counted as RecommendBatch rows whatever the RPC: the same answers.
                            self._count(
                                "RecommendBatch",
                                int(chunk.answers.lengths[row]),
                                chunk.answers.fallbacks[row],
                            )
                        yield message
                        delivered.add(chunk, rows)
                        answered += len(rows)
                    delivered.flush()
                    if answered < len(query.customer_ids):
                        stop_if_abandoned()  # before computing the next chunk
            finally:
                delivered.flush()
                # Stopped here, or gRPC stopped asking for messages (it could not send one).
                stopped = abandoned() if answered < len(query.customer_ids) else None
                if stopped is not None:
                    log.info("%s; stopped, answers computed for %d", stopped.message, computed)

    def Bundle(self, request: pb.BundleRequest, context: grpc.ServicerContext) -> pb.BundleResponse:
        query = requests.bundle_query(request)
        model = self.holder.current()
        answer = bundle(model, query, allowed_items(model, query.item_filter))
        self._count("Bundle", len(answer.picks), answer.fallback)
        return pb.BundleResponse(
            items=[_bundle_item(model, pick) for pick in answer.picks],
            model_version=model.version,
            fallback=FALLBACK_VALUES[answer.fallback],
        )

    def SimilarItems(
        self, request: pb.SimilarItemsRequest, context: grpc.ServicerContext
    ) -> pb.SimilarItemsResponse:
        item_id, limit, item_filter = requests.similar_items_query(request)
        model = self.holder.current()
        similar = similar_items(model, item_id, limit, allowed_items(model, item_filter))
        self._count("SimilarItems", len(similar), Fallback.NONE)
        items = [
            pb.ScoredItem(
                item_id=model.item_ids[s.index],
                score=s.score,
                reason=pb.REASON_SIMILAR,
                name=model.item_names[s.index],
            )
            for s in similar
        ]
        return pb.SimilarItemsResponse(items=items, model_version=model.version)

    def SimilarCustomers(
        self, request: pb.SimilarCustomersRequest, context: grpc.ServicerContext
    ) -> pb.SimilarCustomersResponse:
        customer_id, limit = requests.similar_customers_query(request)
        model = self.holder.current()
        similar = similar_customers(model, customer_id, limit)
        call_state.stop_if_abandoned(context, "SimilarCustomers before building its answer")
        self._count("SimilarCustomers", len(similar), Fallback.NONE)
        return pb.SimilarCustomersResponse(
            customers=_scored_customers(model, similar), model_version=model.version
        )

    def Lookalike(
        self, request: pb.LookalikeRequest, context: grpc.ServicerContext
    ) -> pb.LookalikeResponse:
        query = requests.lookalike_query(request)
        model = self.holder.current()
        answer = lookalike(model, query.seed_customer_ids, query.seed_item_ids, query.limit)
        call_state.stop_if_abandoned(context, "Lookalike before building its answer")
        self._count("Lookalike", len(answer.customers), Fallback.NONE)
        return pb.LookalikeResponse(
            customers=_scored_customers(model, answer.customers),
            model_version=model.version,
            seed_size=answer.seed_size,
        )

    def RecordOrders(
        self, request: pb.RecordOrdersRequest, context: grpc.ServicerContext
    ) -> pb.RecordOrdersResponse:
        orders = requests.recorded_orders(request, now=int(time.time()))
        outcome = self.orders.record(orders)
        self.metrics.orders_recorded(outcome.accepted, outcome.duplicates)
        self.metrics.orders_held(self.orders.held)
        if self.answer_cache is not None and outcome.accepted:
            # After the store took them, so an answer computed from here on sees them.
            self.answer_cache.customers_ordered(order.customer_id for order in orders)
        serving = self.holder.loaded()
        if serving is not None:
            covered = sum(order.timestamp <= serving.reference_ts for order in orders)
            if covered:
                # Not an error (a backfill may overlap the training data), but worth seeing.
                log.info(
                    "RecordOrders: %d of %d orders are not newer than snapshot %s's training "
                    "data; they are taken to be in it and do not change picks",
                    covered,
                    len(orders),
                    serving.version,
                )
        return pb.RecordOrdersResponse(accepted=outcome.accepted, duplicates=outcome.duplicates)

    def GetModelInfo(
        self, request: pb.GetModelInfoRequest, context: grpc.ServicerContext
    ) -> pb.GetModelInfoResponse:
        model = self.holder.current()
        response = pb.GetModelInfoResponse(
            model_version=model.version,
            schema_version=int(model.manifest["schema_version"]),
            counts={k: int(v) for k, v in model.manifest["counts"].items() if _is_number(v)},
            parameters={
                k: _as_text(v) for k, v in (model.manifest.get("parameters") or {}).items()
            },
            metrics={
                k: float(v)
                for k, v in (model.manifest.get("metrics") or {}).items()
                if _is_number(v)
            },
        )
        response.created_at.FromDatetime(model.created_at)
        return response

    def _count(self, method: str, returned: int, fallback: Fallback) -> None:
        self.metrics.answered(method, returned, fallback)


def _scored_items(model: ServingModel, picks: Sequence[Pick]) -> list[pb.ScoredItem]:
    return [
        pb.ScoredItem(
            item_id=model.item_ids[pick.item],
            score=pick.score,
            reason=REASON_VALUES[pick.reason],
            name=model.item_names[pick.item],
            because_item_ids=[model.item_ids[i] for i in pick.because],
            repeat_probability=pick.repeat_probability,
            repeat_cycle_days=pick.repeat_cycle_days,
        )
        for pick in picks
    ]


def _bundle_item(model: ServingModel, pick: BundlePick) -> pb.BundleItem:
    return pb.BundleItem(
        item_id=model.item_ids[pick.item],
        score=pick.score,
        confidence=pick.confidence,
        lift=pick.lift,
        support=pick.support,
        co_purchase_count=pick.co_purchase_count,
        because_item_ids=[model.item_ids[i] for i in pick.because],
        name=model.item_names[pick.item],
        reason=REASON_VALUES[pick.reason],
    )


def _scored_customers(
    model: ServingModel, scored: Sequence[ScoredIndex]
) -> list[pb.ScoredCustomer]:
    return [
        pb.ScoredCustomer(customer_id=model.customer_ids[s.index], score=s.score) for s in scored
    ]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)
