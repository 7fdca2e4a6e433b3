"""Why a file does not read, in one line naming the row: the checks behind `readers`' errors.

DuckDB's CSV sniffer gives up quietly on a ragged file or a truncated `.gz` (it reads the whole
header as one column, so the user would see "column 'customer_id' not found"), and its line
numbers count from where its current chunk starts ("Line: 1" for row 400). These checks run
only once something has gone wrong, reading the file once with Python to say what and where.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from pathlib import Path

from workbench.errors import DataError

SPREADSHEETS = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".numbers")
LIKELY_DELIMITERS = (",", ";", "\t", "|")
# DuckDB's CSV reader refuses longer lines (its `max_line_size`).
MAX_LINE_BYTES = 2_000_000
_ZIP_MAGIC = b"PK\x03\x04"


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_text(path: Path, encoding: str | None):
    raw = gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding=encoding or "utf-8", errors="replace", newline="")


def check_not_spreadsheet(path: Path, what: str) -> None:
    """A workbook is not a text file: say so instead of a CSV parse error."""
    name = path.name.lower()
    with open(path, "rb") as fh:
        zipped = fh.read(4) == _ZIP_MAGIC
    if name.endswith(SPREADSHEETS) or (zipped and not name.endswith((".gz", ".zst"))):
        kind = "a spreadsheet workbook" if name.endswith(SPREADSHEETS) else "a zip archive"
        raise DataError(
            f"{path}: {kind} is not a supported {what} format (xlsx/zip cannot be read): "
            "export the sheet as CSV (File > Save As > CSV UTF-8), or unzip it"
        )


def check_gzip_complete(path: Path) -> None:
    """Read a .gz to its end: a cut-off download fails here, naming the problem."""
    if not _is_gzip(path):
        return
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 20):
                pass
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(
            f"{path}: the gzip file is truncated or corrupt ({exc}); download or export it again"
        ) from None


def check_csv_rows(path: Path, delimiter: str | None, encoding: str | None) -> None:
    """Find the first row whose field count differs from the header's (a ragged file)."""
    check_gzip_complete(path)
    with _open_text(path, encoding) as fh:
        header = fh.readline()
        delim = delimiter or max(LIKELY_DELIMITERS, key=header.count)
        if not header.count(delim):
            return
        width = len(next(csv.reader([header], delimiter=delim)))
        reader = csv.reader(fh, delimiter=delim)
        try:
            for row in reader:
                if row and len(row) != width:
                    raise DataError(
                        f"{path}: line {reader.line_num + 1} has {len(row)} fields, the header "
                        f"has {width}: the rows are ragged; fix that row, or quote fields that "
                        f"contain {delim!r}"
                    )
        except csv.Error as exc:
            raise DataError(f"{path}: line {reader.line_num + 1}: {exc}") from None


def overlong_line(path: Path, limit: int = MAX_LINE_BYTES) -> str | None:
    """'line 401 (data row 400) is 3,145,766 bytes ...' for the first line past `limit`."""
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as fh:
        for number, line in enumerate(iter(lambda: fh.readline(limit + 2), b""), 1):
            if len(line) > limit and not line.endswith(b"\n"):
                rest = len(line)
                while not line.endswith(b"\n"):
                    line = fh.readline(1 << 20)
                    if not line:
                        break
                    rest += len(line)
                return (
                    f"line {number:,} (data row {number - 1:,}) is {rest:,} bytes long, past the "
                    f"reader's {limit:,}-byte line limit: a cell that large is usually an "
                    "export error (an unclosed quote, or a blob in a text column)"
                )
    return None


def check_first_row_width(path: Path, encoding: str | None) -> None:
    """Whitespace-separated text: pandas takes one extra token on the first data row as an
    index and shifts every column, so compare the first two lines' token counts."""
    with _open_text(path, encoding) as fh:
        header, first = fh.readline().split(), fh.readline().split()
    if first and len(first) != len(header):
        raise DataError(
            f"{path}: line 2 has {len(first)} fields, the header has {len(header)} "
            f"({' '.join(header)}); fix that row"
        )
