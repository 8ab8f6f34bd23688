"""Listens for snapshot announcements on Redis and wakes the snapshot watcher.

A background thread subscribes to the announcement channel (basketry.snapshot.announce),
and on every (re)subscription also reads the latest-version key, so an announcement made
while it was disconnected is not lost. Each valid version name is passed to `on_version`
(the watcher, which still loads only what LATEST names in the snapshot directory); a
malformed one is logged and counted, never used. If Redis is down the thread logs a
throttled warning and retries with backoff; the watcher's polling carries on regardless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis
from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.client import PubSub

from basketry.server.throttled_log import ThrottledWarning
from basketry.snapshot import SnapshotError
from basketry.snapshot.announce import channel_name, latest_key, parse_version

log = logging.getLogger(__name__)

# Seconds one wait for a message may block: bounds how long stop() takes.
RECEIVE_TIMEOUT = 0.5
FIRST_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 10.0


class AnnouncementListener:
    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str,
        address: str,
        on_version: Callable[[str], None],
        registry: CollectorRegistry,
    ) -> None:
        self.client = client
        self.channel = channel_name(prefix)
        self.key = latest_key(prefix)
        self.address = address  # for messages only: never holds a password
        self.on_version = on_version
        self.received = Counter(
            "basketry_snapshot_announcements",
            "Snapshot announcements received from Redis, by outcome (valid or malformed)",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("valid", "malformed"):
            self.received.labels(outcome=outcome)
        self.connected = Gauge(
            "basketry_snapshot_announcements_connected",
            "1 while subscribed to snapshot announcements, else 0 (polling only)",
            registry=registry,
            multiprocess_mode="livemin",  # 0 while any process of `--processes N` is not
        )
        self._unavailable = ThrottledWarning(log, interval=30.0)
        self._malformed = ThrottledWarning(log, interval=10.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="snapshot-announcements", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.client.close()

    def _run(self) -> None:
        delay = FIRST_RETRY_DELAY
        while not self._stop.is_set():
            try:
                self._listen()
            except redis.RedisError as exc:
                self.connected.set(0)
                self._unavailable.warn(
                    f"snapshot announcements from {self.address} unavailable ({exc}); "
                    f"retrying, new snapshots are still found by polling LATEST"
                )
                self._stop.wait(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)
                continue
            except Exception:
                # A bug, not Redis: keep the traceback and keep listening after a pause.
                self.connected.set(0)
                log.exception("snapshot announcement listener failed; restarting it")
                self._stop.wait(MAX_RETRY_DELAY)
            delay = FIRST_RETRY_DELAY

    def _listen(self) -> None:
        """Subscribe, catch up from the key, then hand on messages until stopped."""
        # redis-py leaves pubsub() unannotated; it returns a redis.client.PubSub.
        subscription: PubSub = self.client.pubsub(  # type: ignore[no-untyped-call]
            ignore_subscribe_messages=True
        )
        with subscription as pubsub:
            pubsub.subscribe(self.channel)
            # Subscribed first, then read the key: an announcement in between is seen twice
            # (harmless), never missed.
            latest = self.client.get(self.key)
            self.connected.set(1)
            log.info("subscribed to snapshot announcements on %s %r", self.address, self.channel)
            if latest is not None:
                self._handle(latest, source=f"key {self.key!r}")
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=RECEIVE_TIMEOUT)
                if message is not None and message.get("type") == "message":
                    self._handle(message["data"], source=f"channel {self.channel!r}")
        self.connected.set(0)

    def _handle(self, data: str | bytes, *, source: str) -> None:
        try:
            version = parse_version(data)
        except SnapshotError as exc:
            self.received.labels(outcome="malformed").inc()
            self._malformed.warn(f"ignored snapshot announcement from {source}: {exc}")
            return
        self.received.labels(outcome="valid").inc()
        log.debug("snapshot %s announced on %s", version, source)
        self.on_version(version)
