"""Reading the picks customer list; writing picks atomically."""

from __future__ import annotations

from pathlib import Path

import pytest

from basketry.client.cli.common import InputError
from basketry.client.cli.customer_file import read_customer_ids
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
