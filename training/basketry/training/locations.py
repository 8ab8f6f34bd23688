"""Where a row of an input file is: the columns every frame read from a file carries.

Messages about a row name it as "file:line" (the row's first physical line in a CSV
file, header = line 1, as editors number lines) or "file row N" (Parquet has no lines).
"""

from __future__ import annotations

LINE = "_line"  # first physical line of the row in a CSV file; null in Parquet
ROW = "_row"  # 1-based position among the file's data rows
PROBLEM = "_problem"  # a structural bad-row reason (bad_rows.BAD_ROW_REASONS), else null
DETAIL = "_detail"  # what is wrong with the row's structure, for messages
LOCATION_COLUMNS = (LINE, ROW, PROBLEM, DETAIL)


def location(source: str, line: int | None, row: int) -> str:
    """How a message names a row."""
    return f"{source}:{line}" if line is not None else f"{source} row {row}"
