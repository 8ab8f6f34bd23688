"""Says what a file named like a CSV really is when it is not UTF-8 text.

Checked on the raw bytes before parsing, so the message names the problem ("this is a
gzip file", "line 7 is not UTF-8") instead of whatever the parser trips over.
"""

from __future__ import annotations

import codecs

import numpy as np

from basketry.training.csv_layout import CHUNK_BYTES, NEWLINE, Bytes
from basketry.training.errors import TrainingInputError

# Leading bytes of formats people save under a .csv name by mistake.
MAGIC: dict[bytes, str] = {
    b"\x1f\x8b": "gzip-compressed data (name the file .csv.gz)",
    b"PAR1": "a Parquet file (name it .parquet)",
    b"PK\x03\x04": "a zip archive or an Excel workbook (export the sheet as CSV, UTF-8)",
    b"\xff\xfe": "UTF-16 text (save it as UTF-8)",
    b"\xfe\xff": "UTF-16 text (save it as UTF-8)",
}
# A NUL byte this early means binary data, not text.
BINARY_PROBE_BYTES = 8192


def check_text(buf: Bytes, source: str) -> None:
    """Refuse an empty file, a known binary format, or binary data near the start."""
    if not buf.shape[0]:
        raise TrainingInputError(f"{source}: empty file (no header row)")
    head = bytes(buf[:BINARY_PROBE_BYTES])
    for magic, what in MAGIC.items():
        if head.startswith(magic):
            raise TrainingInputError(f"{source}: this is {what}, not CSV text")
    nul = head.find(b"\x00")
    if nul >= 0:
        line = head.count(b"\n", 0, nul) + 1
        raise TrainingInputError(f"{source}:{line}: binary data (a NUL byte), not CSV text")


def check_utf8(buf: Bytes, source: str) -> None:
    """TrainingInputError naming the line and byte of the first invalid UTF-8 sequence."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = int(buf.shape[0])
    for offset in range(0, size, CHUNK_BYTES):
        pending = len(decoder.getstate()[0])  # bytes of a sequence split by the chunking
        try:
            decoder.decode(bytes(buf[offset : offset + CHUNK_BYTES]), offset + CHUNK_BYTES >= size)
        except UnicodeDecodeError as exc:
            _raise_not_utf8(buf, offset - pending + exc.start, source)


def _raise_not_utf8(buf: Bytes, position: int, source: str) -> None:
    newlines_before = int(np.count_nonzero(buf[:position] == NEWLINE))
    line_start = int(np.flatnonzero(buf[:position] == NEWLINE)[-1]) + 1 if newlines_before else 0
    raise TrainingInputError(
        f"{source}:{newlines_before + 1}: not UTF-8 (byte 0x{int(buf[position]):02x} at column "
        f"{position - line_start + 1}); save the file as UTF-8, e.g. "
        "iconv -f latin1 -t utf-8 (a file mixing encodings needs its lines fixed)"
    )
