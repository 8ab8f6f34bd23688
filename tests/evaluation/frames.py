"""Clean order-line frames for the evaluation tests, written as (order, customer, day, items)."""

from __future__ import annotations

import polars as pl

DAY = 86_400
START = 1_700_000_000  # an arbitrary instant; days count from here


def clean_lines(orders: list[tuple[str, str, int, str]]) -> pl.DataFrame:
    """Clean-line frame from (order_id, customer_id, day, "item item ...") tuples."""
    rows = [
        {
            "order_id": order,
            "customer_id": customer,
            "item_id": item,
            "quantity": 1.0,
            "ts": START + day * DAY,
            "price": 1.0,
            "item_name": item,
        }
        for order, customer, day, items in orders
        for item in items.split()
    ]
    return pl.DataFrame(
        rows,
        schema={
            "order_id": pl.String,
            "customer_id": pl.String,
            "item_id": pl.String,
            "quantity": pl.Float64,
            "ts": pl.Int64,
            "price": pl.Float64,
            "item_name": pl.String,
        },
    )
