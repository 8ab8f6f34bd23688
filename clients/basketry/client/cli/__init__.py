"""The client commands of `basketry`: recommend, picks, bundle, similar-items,
similar-customers, lookalike and model-info (`basketry record` reads order files as
training does, so it lives in basketry.training.record).

`basketry.cli.main` calls `configure(name, parser)` for the chosen command; the returned
handler runs it and returns the exit code: 0 done, 1 a server or input error (one line on
stderr), 2 a usage error (argparse).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from basketry.client.cli import queries
from basketry.client.cli.common import Handler, guarded
from basketry.client.cli.picks import configure_picks

_CONFIGURE: dict[str, Callable[[argparse.ArgumentParser], Handler]] = {
    "recommend": queries.configure_recommend,
    "picks": configure_picks,
    "bundle": queries.configure_bundle,
    "similar-items": queries.configure_similar_items,
    "similar-customers": queries.configure_similar_customers,
    "lookalike": queries.configure_lookalike,
    "model-info": queries.configure_model_info,
}

COMMANDS = tuple(_CONFIGURE)


def configure(name: str, parser: argparse.ArgumentParser) -> Handler:
    if name not in _CONFIGURE:
        raise ValueError(f"basketry.client.cli has no command {name!r}")
    return guarded(name, _CONFIGURE[name](parser))
