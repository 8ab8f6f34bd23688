"""Reading the picks customer list and the record order file; writing picks atomically."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from basketry.client.cli.common import InputError
from basketry.client.cli.customer_file import read_customer_ids
from basketry.client.cli.order_file import read_orders
from basketry.client.cli.picks_output import atomic_output


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_plain_list_keeps_first_occurrences_and_reports_duplicates_and_blanks(
    tmp_path: Path,
) -> None:
    customers = read_customer_ids(str(write(tmp_path / "ids.txt", "c1\n c2 \n\nc1\nc3\n\n")))
    assert customers.ids == ("c1", "c2", "c3")
    assert customers.duplicate_ids == ("c1",)
    assert customers.empty_lines == (3, 6)


def test_csv_uses_the_customer_id_column(tmp_path: Path) -> None:
    text = "\ufeffemail,customer_id\na@x,17850\nb@x,\nc@x,12347\n"
    customers = read_customer_ids(str(write(tmp_path / "ids.csv", text)))
    assert customers.ids == ("17850", "12347")
    assert customers.empty_lines == (3,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("email,name\na,b\n", "needs a 'customer_id' column"),
        ("\n\n", "holds no customer ids"),
        ("customer_id\n", "holds no customer ids"),
    ],
)
def test_bad_customer_files_raise_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_customer_ids(str(write(tmp_path / "ids.csv", text)))


def test_missing_customer_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read customers file .*No such file"):
        read_customer_ids(str(tmp_path / "absent.txt"))


def test_orders_group_lines_by_order_id(tmp_path: Path) -> None:
    text = (
        "order_id,customer_id,item_id,quantity,timestamp,price\n"
        "o1,c1,i1,2,2010-12-01 08:26:00,2.55\n"
        "o2,c2,i3,1,1291191960,\n"
        "o1,c1,i2,6,2010-12-01 08:26:00,3.39\n"
        "o3,c2,i3,1,,\n"
    )
    orders = read_orders(write(tmp_path / "orders.csv", text))
    assert [(o.order_id, o.customer_id, len(o.lines)) for o in orders] == [
        ("o1", "c1", 2),
        ("o2", "c2", 1),
        ("o3", "c2", 1),
    ]
    assert orders[0].timestamp == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    assert orders[1].timestamp == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    assert orders[2].timestamp is None
    assert [(line.item_id, line.quantity, line.price) for line in orders[0].lines] == [
        ("i1", 2.0, 2.55),
        ("i2", 6.0, 3.39),
    ]
    assert orders[1].lines[0].price is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("o1,c1,i1,0,1291191960", "line 2: quantity must be > 0"),
        ("o1,c1,i1,two,1291191960", "line 2: quantity is not a number"),
        ("o1,,i1,1,1291191960", "line 2: empty customer_id"),
        ("o1,c1,i1,1,yesterday", "line 2: timestamp 'yesterday' is neither"),
    ],
)
def test_bad_order_rows_name_the_line(tmp_path: Path, row: str, message: str) -> None:
    header = "order_id,customer_id,item_id,quantity,timestamp"
    path = write(tmp_path / "orders.csv", f"{header}\n{row}\n")
    with pytest.raises(InputError, match=message):
        read_orders(path)


def test_orders_file_without_canonical_columns_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "orders.csv", "InvoiceNo,CustomerID,StockCode\n1,2,3\n")
    with pytest.raises(InputError, match=r"missing column.*order_id"):
        read_orders(path)


def test_order_with_two_customers_is_refused(tmp_path: Path) -> None:
    text = "order_id,customer_id,item_id,quantity,timestamp\no1,c1,i1,1,\no1,c2,i2,1,\n"
    with pytest.raises(InputError, match="line 3: order o1 belongs to customer c1"):
        read_orders(write(tmp_path / "orders.csv", text))


def test_atomic_output_leaves_nothing_behind_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "picks.csv"
    with pytest.raises(RuntimeError), atomic_output(target) as handle:
        handle.write("half a file")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(target) as handle:
        handle.write("whole file\n")
    assert target.read_text() == "whole file\n"
    assert list(tmp_path.iterdir()) == [target]
