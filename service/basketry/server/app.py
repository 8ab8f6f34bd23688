"""Assembles the server (gRPC, health, reflection, metrics, snapshot watcher and its Redis
announcement listener, recorded-order and sent-picks stores, answer cache, TLS and API-key
authentication) and runs it.

`create_server(settings)` builds and binds without starting, so tests can bind port 0;
`serve(settings)` runs until SIGTERM or SIGINT and then drains gracefully. With
`settings.processes` > 1 it supervises that many worker processes instead
(basketry.server.supervisor), each of which comes back here as a worker.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from threadpoolctl import threadpool_limits

from basketry.server.announcements import AnnouncementListener
from basketry.server.answer_caches import create_answer_cache
from basketry.server.auth import AuthInterceptor
from basketry.server.holder import ModelHolder
from basketry.server.interceptors import ErrorInterceptor, MetricsInterceptor
from basketry.server.metrics import ServerMetrics
from basketry.server.model import ServingModel
from basketry.server.order_stores import create_order_store, create_sent_picks_store
from basketry.server.orders import OrderStoreUnavailable
from basketry.server.redis_store import redacted
from basketry.server.request_ids import RequestIdInterceptor
from basketry.server.security import ServerSecurity
from basketry.server.servicer import RecommenderServicer
from basketry.server.settings import ServerSettings
from basketry.server.supervisor import supervise
from basketry.server.watcher import SnapshotWatcher
from basketry.server.worker_role import WorkerRole
from basketry.snapshot.redis_connection import check_login, redis_client
from basketry.v1 import recommender_pb2, recommender_pb2_grpc

log = logging.getLogger(__name__)

# Seconds before the server asks a client to reconnect (see create_server).
MAX_CONNECTION_AGE_SECONDS = 120

SERVICE_NAME = recommender_pb2.DESCRIPTOR.services_by_name["RecommenderService"].full_name


class BasketryServer:
    """A built server: `start()`, then `stop()` (or `wait()` for termination)."""

    def __init__(
        self, settings: ServerSettings, grpc_server: grpc.Server, port: int, metrics: ServerMetrics
    ) -> None:
        self.settings = settings
        self.grpc_server = grpc_server
        self.port = port
        self.metrics = metrics
        self.metrics_port: int | None = None
        self.holder = ModelHolder()
        self.orders = create_order_store(settings, metrics)
        metrics.orders_held(self.orders.held)
        self.sent_picks = create_sent_picks_store(settings, metrics)
        self.answer_cache = create_answer_cache(settings, metrics)
        self.health = health.HealthServicer(experimental_non_blocking=True)
        self.watcher = SnapshotWatcher(
            settings.snapshot_dir,
            self.holder,
            self.metrics,
            poll_interval=settings.poll_interval,
            on_swap=self._mark_serving,
            ann_min_rows=settings.ann_min_rows,
        )
        self.announcements = _announcement_listener(settings, self.watcher, metrics)

    @property
    def target(self) -> str:
        return _address(self.settings.host, self.port)

    def start(self) -> None:
        """Load the current snapshot (if any), then take traffic and start polling."""
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.watcher.poll_once()
        self.grpc_server.start()
        if self.settings.metrics_port is not None:
            self.metrics_port = self.metrics.serve_http(
                self.settings.host, self.settings.metrics_port
            )
            log.info(
                "metrics on http://%s/metrics", _address(self.settings.host, self.metrics_port)
            )
        self.watcher.start()
        if self.announcements is not None:
            self.announcements.start()
        log.info("basketry server listening on %s", self.target)

    def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, let in-flight RPCs finish within `grace`, then stop everything."""
        self.health.enter_graceful_shutdown()
        if self.announcements is not None:
            self.announcements.stop()
        self.watcher.stop()
        self.grpc_server.stop(self.settings.grace if grace is None else grace).wait()
        self.metrics.stop_http()
        log.info("basketry server on %s stopped", self.target)

    def _mark_serving(self, model: ServingModel) -> None:
        # Serving already ignores orders the new snapshot includes; this frees their memory.
        try:
            expired = self.orders.expire_through(model.reference_ts)
        except OrderStoreUnavailable as exc:
            # Harmless to serving; the next swap (on any replica) drops them.
            log.warning("%s; recorded orders not expired at this swap", exc)
        else:
            # Held first: whoever sees the expiry counted sees the gauge already down.
            self.metrics.orders_held(self.orders.held)
            self.metrics.recorded_orders_expired.inc(expired)
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)


def create_server(
    settings: ServerSettings, *, share_port: bool = False
) -> tuple[BasketryServer, int]:
    """Build the server and bind its port (not started yet); returns it with the bound port.

    `share_port`: bind with SO_REUSEPORT, for the workers of one supervisor (which checked
    the port was free); otherwise a port in use is refused."""
    security = ServerSecurity.load(settings)
    check_redis_login(settings)
    metrics = ServerMetrics(shared_order_store=settings.redis_url is not None)
    # Request ids outermost, so every log line of a call carries one; metrics outside
    # errors, so it sees the status the error one sets; auth inside errors, so a refusal
    # becomes its status there and is counted under it.
    interceptors: list[grpc.ServerInterceptor] = [
        RequestIdInterceptor(),
        MetricsInterceptor(metrics),
        ErrorInterceptor(),
    ]
    if security.api_keys is not None:
        interceptors.append(AuthInterceptor(security.api_keys))
    grpc_server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="rpc"),
        interceptors=interceptors,
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs or None,
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            # Refuse a port another process already serves instead of silently sharing it;
            # a supervisor's workers share theirs, the kernel spreading connections.
            ("grpc.so_reuseport", 1 if share_port else 0),
            # The kernel (SO_REUSEPORT) and load balancers spread connections, not calls, and
            # clients keep theirs: without an age limit a restarted worker or a new replica
            # gets no traffic until clients reconnect (seen in bench/soak.py). Callers move
            # over on the GOAWAY; calls in flight get the drain grace (at least 30 s) to finish.
            ("grpc.max_connection_age_ms", MAX_CONNECTION_AGE_SECONDS * 1000),
            ("grpc.max_connection_age_grace_ms", round(max(settings.grace, 30.0) * 1000)),
        ],
    )
    address = _address(settings.host, settings.port)
    try:
        if security.credentials is None:
            port = grpc_server.add_insecure_port(address)
        else:
            port = grpc_server.add_secure_port(address, security.credentials)
    except RuntimeError as exc:
        raise OSError(
            f"cannot listen on {address}: {exc} (port in use or not a local address?)"
        ) from exc
    server = BasketryServer(settings, grpc_server, port, metrics)
    _register_services(server)
    security.log(settings)
    return server, port


def serve(settings: ServerSettings) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    role = WorkerRole.from_environment()
    if role is None and settings.processes > 1:
        # Bad files stop the start here, once, rather than in every worker.
        ServerSecurity.load(settings)
        check_redis_login(settings)
        return supervise(settings)
    if role is not None:
        settings = role.settings(settings)
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info(
            "received %s: draining for up to %.1fs", signal.Signals(signum).name, settings.grace
        )
        stop_requested.set()

    # One BLAS thread: requests are small products and threads would fight over 2 cores.
    with threadpool_limits(limits=1, user_api="blas"):
        server, _port = create_server(settings, share_port=role is not None)
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        server.start()
        if role is not None:
            role.report_ready()
            role.watch_supervisor(stop_requested.set)
        stop_requested.wait()
        server.stop()
    return 0


def check_redis_login(settings: ServerSettings) -> None:
    """Refuse to start (ValueError) when Redis refuses the login or the TLS handshake; Redis
    not answering at all is not fatal (the stores degrade and reconnect, and say so)."""
    if settings.redis_url is None:
        return
    client = redis_client(
        settings.redis_url,
        password=settings.redis_password,
        tls=settings.redis_tls,
        timeout=settings.redis_timeout,
        retries=0,
    )
    try:
        check_login(client, redacted(settings.redis_url))
    finally:
        client.close()


def _announcement_listener(
    settings: ServerSettings, watcher: SnapshotWatcher, metrics: ServerMetrics
) -> AnnouncementListener | None:
    """With Redis, new snapshots are announced there; without, polling LATEST alone finds them."""
    if settings.redis_url is None:
        log.info("new snapshots found by polling LATEST every %.1fs", settings.poll_interval)
        return None
    return AnnouncementListener(
        # No retries of its own: the listener's loop reconnects and catches up.
        redis_client(
            settings.redis_url,
            password=settings.redis_password,
            tls=settings.redis_tls,
            timeout=settings.redis_timeout,
            retries=0,
        ),
        prefix=settings.redis_prefix,
        address=redacted(settings.redis_url),
        on_version=watcher.announced,
        registry=metrics.registry,
    )


def _register_services(server: BasketryServer) -> None:
    recommender_pb2_grpc.add_RecommenderServiceServicer_to_server(
        RecommenderServicer(
            server.holder, server.metrics, server.orders, server.sent_picks, server.answer_cache
        ),
        server.grpc_server,
    )
    health_pb2_grpc.add_HealthServicer_to_server(server.health, server.grpc_server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server.grpc_server
    )


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
