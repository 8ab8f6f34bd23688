"""The one-question commands: recommend, bundle, similar-items, similar-customers,
lookalike and model-info. Each `configure_*` adds its options and returns its runner."""

from __future__ import annotations

import argparse

from basketry.client import ModelInfo
from basketry.client.cli import output
from basketry.client.cli.common import (
    Handler,
    add_connection_args,
    add_filter_args,
    add_pick_args,
    bounded_int,
    connect,
    item_filter,
)

QUERY_TIMEOUT = 10.0


def configure_recommend(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument("--customer", required=True, metavar="ID", help="the customer's id")
    add_pick_args(parser, limit_help="items (1..500)")
    parser.add_argument(
        "--context",
        nargs="+",
        action="extend",
        default=[],
        metavar="ITEM",
        help="items in the cart or on the page: steer picks, never returned",
    )
    parser.add_argument(
        "--explain", action="store_true", help="show the past purchases behind each pick"
    )
    add_filter_args(parser)
    add_connection_args(parser, default_timeout=QUERY_TIMEOUT)

    def run(args: argparse.Namespace) -> int:
        with connect(args) as client:
            result = client.recommend(
                args.customer,
                limit=args.limit,
                filter=item_filter(args),
                context_item_ids=args.context,
                strategy=args.strategy,
                explain=args.explain,
            )
        if args.json:
            print(output.to_json(result))
            return 0
        fallback = f" · fallback: {result.fallback.value}" if result.fallback else ""
        print(
            f"customer {args.customer} · {args.strategy} · model {result.model_version}{fallback}"
        )
        print(output.items_table(result.items))
        return 0

    return run


def configure_bundle(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument(
        "--item",
        nargs="+",
        action="extend",
        required=True,
        metavar="ID",
        help="basket item(s); repeat or list several",
    )
    parser.add_argument("--limit", type=bounded_int(1, 500), default=10, help="items (1..500)")
    add_filter_args(parser)
    add_connection_args(parser, default_timeout=QUERY_TIMEOUT)

    def run(args: argparse.Namespace) -> int:
        with connect(args) as client:
            result = client.bundle(args.item, limit=args.limit, filter=item_filter(args))
        if args.json:
            print(output.to_json(result))
            return 0
        fallback = f" · fallback: {result.fallback.value}" if result.fallback else ""
        print(f"bought with {', '.join(args.item)} · model {result.model_version}{fallback}")
        print(output.bundle_table(result.items))
        return 0

    return run


def configure_similar_items(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument("--item", required=True, metavar="ID", help="the query item")
    parser.add_argument("--limit", type=bounded_int(1, 500), default=10, help="items (1..500)")
    add_filter_args(parser)
    add_connection_args(parser, default_timeout=QUERY_TIMEOUT)

    def run(args: argparse.Namespace) -> int:
        with connect(args) as client:
            result = client.similar_items(args.item, limit=args.limit, filter=item_filter(args))
        if args.json:
            print(output.to_json(result))
            return 0
        print(f"items like {args.item} · model {result.model_version}")
        print(output.items_table(result.items))
        return 0

    return run


def configure_similar_customers(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument("--customer", required=True, metavar="ID", help="the query customer")
    parser.add_argument(
        "--limit", type=bounded_int(1, 10_000), default=10, help="customers (1..10000)"
    )
    add_connection_args(parser, default_timeout=QUERY_TIMEOUT)

    def run(args: argparse.Namespace) -> int:
        with connect(args) as client:
            result = client.similar_customers(args.customer, limit=args.limit)
        if args.json:
            print(output.to_json(result))
            return 0
        print(f"customers like {args.customer} · model {result.model_version}")
        print(output.customers_table(result.customers))
        return 0

    return run


def configure_lookalike(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument(
        "--seed-customer",
        nargs="+",
        action="extend",
        default=[],
        metavar="ID",
        help="seed customers",
    )
    parser.add_argument(
        "--seed-item",
        nargs="+",
        action="extend",
        default=[],
        metavar="ID",
        help="seed items: their buyers join the seed",
    )
    parser.add_argument(
        "--limit",
        type=bounded_int(1, 10_000),
        default=100,
        help="customers (1..10000, default 100)",
    )
    add_connection_args(parser, default_timeout=QUERY_TIMEOUT)

    def run(args: argparse.Namespace) -> int:
        if not args.seed_customer and not args.seed_item:
            parser.error("give at least one --seed-customer or --seed-item")
        with connect(args) as client:
            result = client.lookalike(
                seed_customer_ids=args.seed_customer, seed_item_ids=args.seed_item, limit=args.limit
            )
        if args.json:
            print(output.to_json(result))
            return 0
        print(
            f"look-alikes of a seed of {result.seed_size} known customers"
            f" · model {result.model_version}"
        )
        print(output.customers_table(result.customers))
        return 0

    return run


def configure_model_info(parser: argparse.ArgumentParser) -> Handler:
    add_connection_args(parser, default_timeout=QUERY_TIMEOUT)

    def run(args: argparse.Namespace) -> int:
        with connect(args) as client:
            info = client.model_info()
        print(output.to_json(info) if args.json else _model_info_text(info))
        return 0

    return run


def _model_info_text(info: ModelInfo) -> str:
    created = info.created_at.isoformat() if info.created_at else "unknown"
    lines = [f"model {info.model_version} · created {created} · schema {info.schema_version}"]
    sections: list[tuple[str, dict[str, int] | dict[str, str] | dict[str, float]]] = [
        ("counts", info.counts),
        ("parameters", info.parameters),
        ("metrics", info.metrics),
    ]
    for title, values in sections:
        if values:
            rows = [(key, value) for key, value in values.items()]
            lines += ["", output.table((title, "value"), rows)]
    return "\n".join(lines)
