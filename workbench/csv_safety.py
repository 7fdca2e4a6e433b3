"""Every CSV the workbench writes is safe to open in a spreadsheet.

Excel, LibreOffice and Google Sheets run a cell that starts with `=`, `+`, `-` or `@` (and, in
some versions, a tab or carriage return) as a formula: a profile id `=HYPERLINK("http://...")`
from an events file would become a live link in `scores.csv`, and `=cmd|' /C calc'!A0` a
command prompt. So every text cell that starts with one of those characters is written with a
leading apostrophe (`'=HYPERLINK(...)`), which spreadsheets show as the plain text it was
(OWASP's "CSV injection" advice). Plain numbers such as `-0.5` or `+3` are left alone: a
spreadsheet reads them as numbers, never as formulas.

A cell that already starts with an apostrophe followed by one of those characters (or by another
apostrophe) gets one more, so `unescape_cell` recovers every value exactly: `Run.read_frame`
reads the workbench's own CSVs back unchanged. The Parquet files always hold the exact values.

`write_csv` (Arrow, or pandas) and `escape_column` (an Ibis expression, for the quarantine file DuckDB
writes) are the two writers; nothing else in the workbench writes CSV.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.atomic import replaced

if TYPE_CHECKING:
    import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_NEEDS_ESCAPE = r"^([=+@\t\r-]|'[=+@\t\r'-])"
_PLAIN_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def escape_cell(value: str) -> str:
    """`=1+1` -> `'=1+1`; `-0.5`, `abc` unchanged."""
    if not value:
        return value
    if value[0] in FORMULA_START and not _NUMBER.fullmatch(value):
        return "'" + value
    if value[0] == "'" and len(value) > 1 and (value[1] in FORMULA_START or value[1] == "'"):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    """The inverse of `escape_cell`."""
    if len(value) > 1 and value[0] == "'" and (value[1] in FORMULA_START or value[1] == "'"):
        return value[1:]
    return value


def _text_columns(frame: pd.DataFrame) -> list[str]:
    import pandas as pd

    return [
        c
        for c in frame.columns
        if pd.api.types.is_object_dtype(frame[c])
        or pd.api.types.is_string_dtype(frame[c])
        or isinstance(frame[c].dtype, pd.CategoricalDtype)
    ]


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with every text cell escaped (other columns as they are)."""
    out = frame.copy()
    for column in _text_columns(out):
        values = out[column].astype("object")
        out[column] = values.map(lambda v: escape_cell(v) if isinstance(v, str) else v)
    return out


def unescape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    for column in _text_columns(frame):
        values = frame[column].astype("object")
        frame[column] = values.map(lambda v: unescape_cell(v) if isinstance(v, str) else v)
    return frame


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write `frame` as CSV with text cells escaped, via a temporary file renamed into place
    (a full disk or a kill never leaves half a file under the final name). Arrow's writer
    (escaping in Arrow's own string kernels) where every column has one type: the scores of a
    million profiles with their factor text took pandas most of notebook 05; a column mixing
    numbers and text (a table's `typical_value`) goes through pandas."""
    path = Path(path)
    with replaced(path) as tmp:
        if not _write_arrow_csv(frame, tmp):
            # CRLF (RFC 4180): the csv module then quotes a cell holding a bare CR, which would
            # otherwise end the row in every reader
            escape_frame(frame).to_csv(tmp, index=False, lineterminator="\r\n")
    return path


def _write_arrow_csv(frame: pd.DataFrame, path: Path) -> bool:
    """`frame` as escaped CSV through Arrow (every text cell quoted, missing values empty,
    CRLF); False, writing nothing, when Arrow cannot give a column one type."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return False
    for i, field in enumerate(table.schema):
        kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            continue
        column = pc.cast(table.column(i), kind)
        needs = pc.and_(
            pc.match_substring_regex(column, _NEEDS_ESCAPE),
            pc.invert(pc.match_substring_regex(column, _PLAIN_NUMBER)),
        )
        escaped = pc.binary_join_element_wise(pa.scalar("'", kind), column, pa.scalar("", kind))
        table = table.set_column(
            i, field.name, pc.if_else(pc.fill_null(needs, False), escaped, column)
        )
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed", eol="\r\n"))
    return True


def escape_column(column):
    """The same rule as `escape_cell` on an Ibis string column."""
    import ibis

    needs = column.re_search(_NEEDS_ESCAPE) & ~column.re_search(_PLAIN_NUMBER)
    return ibis.cases((needs.fill_null(False), ibis.literal("'") + column), else_=column)
