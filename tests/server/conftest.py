"""Fixtures for the server tests: serving models without gRPC, and a stub on the server."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from support.servers import RunningServer
from support.synthetic import publish_synthetic_snapshot
from support.tiny import publish_tiny_snapshot

from basketry.server.model import ServingModel, build_model
from basketry.snapshot import load_latest
from basketry.v1 import recommender_pb2_grpc


@pytest.fixture(scope="session")
def synthetic_model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    """The default synthetic snapshot as a serving model (built once per session)."""
    directory = tmp_path_factory.mktemp("synthetic")
    publish_synthetic_snapshot(directory)
    return build_model(load_latest(directory))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    directory = tmp_path_factory.mktemp("tiny")
    publish_tiny_snapshot(directory)
    return build_model(load_latest(directory))


@pytest.fixture
def stub(server: RunningServer) -> Iterator[recommender_pb2_grpc.RecommenderServiceStub]:
    with grpc.insecure_channel(server.target) as channel:
        yield recommender_pb2_grpc.RecommenderServiceStub(channel)
