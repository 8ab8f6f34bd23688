"""Fixtures of the deploy tests."""

from __future__ import annotations

import pytest

from .training_run import TrainingRun, run_training


@pytest.fixture(scope="session")
def training_run(tmp_path_factory: pytest.TempPathFactory) -> TrainingRun:
    """One real training and evaluation run, shared by the tests that scrape its metrics."""
    return run_training(tmp_path_factory.mktemp("training"))
