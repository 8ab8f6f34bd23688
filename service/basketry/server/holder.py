"""The one reference to the serving model, swapped whole when a new snapshot is ready."""

from __future__ import annotations

from basketry.server.errors import Unavailable
from basketry.server.model import ServingModel


class ModelHolder:
    """Requests read `current()` once and use that model throughout, so a swap in the
    middle of a request cannot mix two versions. Swapping is a single reference assignment
    (atomic under the GIL), so readers take no lock."""

    def __init__(self) -> None:
        self._model: ServingModel | None = None

    def current(self) -> ServingModel:
        """The serving model; Unavailable while none has loaded yet."""
        model = self._model
        if model is None:
            raise Unavailable("no snapshot is loaded yet; retry shortly")
        return model

    def loaded(self) -> ServingModel | None:
        return self._model

    def swap(self, model: ServingModel) -> None:
        self._model = model
