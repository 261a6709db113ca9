"""Finding the table in a department file: .xlsx, .xls or delimited text (.csv, .tsv, .txt).

Legacy exports and department templates rarely start with a clean header in row 1. ``read_table``
skips title rows and 填报单位/填报日期 lines, finds the header block (one row, or a group row over a
leaf row with merged cells), reads the data rows below it and stops at the footer (注：…, 合计,
制表人/审核人 lines). Cell values are kept as the file typed them (``datetime``, ``int``, ``float``,
``str``); normalising values is the importer's job.

An empty template is a table too: its ``header_rows``, ``first_data_row``, ``footer_rows`` and
``merges`` are what template filling needs, and it simply has no data rows.
"""

import codecs
import csv
import io
import re
import statistics
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, NamedTuple

import openpyxl
import xlrd
from django.utils.translation import gettext as _
from openpyxl.utils import get_column_letter, range_boundaries

# Header search looks at this many rows from the top of a sheet.
HEADER_WINDOW = 50
# A header block is at most this many rows deep.
MAX_HEADER_ROWS = 4
# Header cells longer than this are sentences (notes, titles), not column names.
MAX_HEADER_TEXT = 30

CFB_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_SIGNATURE = b"PK\x03\x04"
# An encrypted .xlsx is an OLE compound file holding these streams (names are UTF-16 in the directory).
_ENCRYPTED_MARKERS = ("EncryptedPackage".encode("utf-16-le"), "EncryptionInfo".encode("utf-16-le"))

SEQ_HEADERS = frozenset({"序号", "序", "序列", "no", "no.", "#"})

# "label：" as in 填报单位：…  (a colon not followed by a digit, so 10:30 is not a label)
_LABEL_COLON = re.compile(r"[：:](?!\d)")
_NOTE_START = re.compile(r"^(注|说明|备注|附注|填表说明)\s*[：:0-9０-９一二三、.．(（]")
_TOTAL_START = re.compile(r"^(合\s*计|总\s*计|小\s*计|共\s*计)")
_SIGN_START = re.compile(r"^(填表|制表|填报|审核|审批|复核|经办|统计人|负责人|单位负责人|主要负责人|分管领导|签字|盖章)")
_VALUE_LIKE = re.compile(r"^[\d\s.,:+\-/年月日号()（）]+$")
_FILL_LINE_START = re.compile(r"^(填报|填表|制表|单位|日期|统计时间|统计日期|报送)")


class TableError(Exception):
    """The file holds no readable table; the message is one line a person can act on."""


class CellRange(NamedTuple):
    """A merged range, 1-based and inclusive, in openpyxl's order."""

    min_row: int
    min_col: int
    max_row: int
    max_col: int


@dataclass(frozen=True)
class Column:
    index: int  # 0-based
    letter: str
    header_text: str  # the leaf header, as written (outer spaces stripped)
    header_path: tuple[str, ...]  # group header(s) down to the leaf, e.g. ('户主信息', '身份证号')


class DataRow(NamedTuple):
    """(A named tuple: a county's 户籍 export has 600,000 rows, made several times faster than a
    frozen dataclass's and sent to worker processes more compactly.)"""

    row_number: int  # 1-based among data rows only
    sheet_row: int  # 1-based row of the sheet (line of a CSV file)
    values: list[Any]  # one value per column, None when empty


@dataclass
class Table:
    sheet_name: str | None  # None for delimited text
    sheet_names: list[str]  # every sheet of the workbook, in order (empty for delimited text)
    format: str  # xlsx | xls | csv
    header_rows: list[int]
    first_data_row: int
    columns: list[Column]
    rows: list[DataRow]
    footer_rows: list[int] = field(default_factory=list)
    title_rows: list[int] = field(default_factory=list)
    fill_line_rows: list[int] = field(default_factory=list)  # 填报单位/填报人/填报日期 lines above the header
    colnum_row: int | None = None  # a row of column numbers (1 2 3 …) under the header
    seq_column: int | None = None  # index of the 序号 column
    merges: list[CellRange] = field(default_factory=list)  # every merged range of the sheet
    encoding: str | None = None  # delimited text only
    delimiter: str | None = None  # delimited text only

    @property
    def n_data_rows(self) -> int:
        return len(self.rows)

    @property
    def header_merges(self) -> list[CellRange]:
        """Merged ranges that touch the header block."""
        top, bottom = self.header_rows[0], self.header_rows[-1]
        return [m for m in self.merges if m.min_row <= bottom and m.max_row >= top]

    def column_values(self, index: int, *, limit: int | None = None) -> list[Any]:
        """The non-empty values of one column, top to bottom (at most ``limit``)."""
        found: list[Any] = []
        for row in self.rows:
            value = row.values[index]
            if not _is_empty(value):
                found.append(value)
                if limit is not None and len(found) >= limit:
                    break
        return found


def read_table(source: Path | bytes, *, filename: str, sheet: str | None = None) -> Table:
    """Read the table of one sheet (or of a delimited text file).

    The format comes from the content, with ``filename``'s extension as a hint. Without ``sheet``,
    the first visible sheet holding a recognisable table is read. Raises ``TableError``.
    """
    data = source.read_bytes() if isinstance(source, Path) else bytes(source)
    if not data.strip():
        raise TableError(_("The file is empty."))
    kind = _sniff_format(data, filename)
    if kind == "csv":
        text, encoding = _decode_text(data)
        delimiter = _sniff_delimiter(text)
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        grid = ([None if cell == "" else cell for cell in row] for row in rows)
        table = _build_table(grid, [], sheet_name=None, sheet_names=[], kind="csv")
        if table is None:
            raise TableError(_("No table header was found in the file."))
        table.encoding, table.delimiter = encoding, delimiter
        return table
    sheets, close = _xlsx_sheets(data) if kind == "xlsx" else _xls_sheets(data, filename)
    try:
        names = [s.name for s in sheets]
        if sheet is not None:
            chosen = [s for s in sheets if s.name == sheet]
            if not chosen:
                raise TableError(
                    _("The workbook has no sheet named “%(sheet)s”; its sheets are: %(names)s.")
                    % {"sheet": sheet, "names": "、".join(names)}
                )
        else:
            chosen = [s for s in sheets if s.visible] or sheets
        for candidate in chosen:
            table = _build_table(candidate.rows(), candidate.merges(), sheet_name=candidate.name,
                                 sheet_names=names, kind=kind)
            if table is not None:
                return table
    finally:
        close()
    if sheet is not None:
        raise TableError(_("No table header was found in sheet “%(sheet)s”.") % {"sheet": sheet})
    raise TableError(_("No table header was found in any sheet of the workbook."))


# --- formats -------------------------------------------------------------------------------------


class _Sheet(NamedTuple):
    name: str
    visible: bool
    rows: Callable[[], Iterable[Sequence]]
    merges: Callable[[], list[CellRange]]


def _sniff_format(data: bytes, filename: str) -> str:
    ext = Path(filename).suffix.lower()
    if data.startswith(ZIP_SIGNATURE):
        return "xlsx"
    if data.startswith(CFB_SIGNATURE):
        if any(marker in data for marker in _ENCRYPTED_MARKERS):
            raise TableError(_("The workbook is password-protected; remove the password in Excel and upload it again."))
        return "xls"
    head = data[:4096]
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise TableError(_("The file is not a workbook or a text table Yici can read."))
    if re.match(rb"\s*<(!doctype|html|table|\?xml)", head, re.IGNORECASE):
        raise TableError(_("The file is a web page or XML, not a workbook; open it in Excel and save it as .xlsx."))
    if ext in (".xlsx", ".xlsm"):
        raise TableError(_("The file is damaged or is not an Excel workbook."))
    # Many department systems export tab-separated text under an .xls name: read it as text.
    return "csv"


def _wrap_workbook_error(exc: Exception) -> TableError:
    if "encrypt" in str(exc).lower() or "password" in str(exc).lower():
        return TableError(_("The workbook is password-protected; remove the password in Excel and upload it again."))
    return TableError(_("The file is damaged or is not an Excel workbook."))


def _xlsx_sheets(data: bytes) -> tuple[list[_Sheet], Callable[[], None]]:
    try:
        # read_only streams rows; data_only gives the cached results of formulas.
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile, KeyError, InvalidFileException, XML errors …
        raise _wrap_workbook_error(exc) from exc

    def rows(ws) -> Iterator[Sequence]:
        # Exporters often write a wrong <dimension>; forget it and read every row present.
        ws.reset_dimensions()
        try:
            yield from ws.iter_rows(values_only=True)
        except Exception as exc:
            raise _wrap_workbook_error(exc) from exc

    sheets = [
        _Sheet(ws.title, ws.sheet_state == "visible", lambda ws=ws: rows(ws), lambda ws=ws: _xlsx_merges(ws))
        for ws in book.worksheets
    ]
    return sheets, book.close


_MERGE_REF = re.compile(rb"<(?:\w+:)?mergeCell\b[^>]*?\bref=\"([A-Z]+[0-9]+(?::[A-Z]+[0-9]+)?)\"")


def _xlsx_merges(ws) -> list[CellRange]:
    """Merged ranges of a read-only sheet, read straight from the sheet's XML.

    read_only mode does not parse ``<mergeCells>``; loading the whole workbook in normal mode just
    for them would cost the memory read_only saves, so the XML is scanned in chunks instead.
    """
    refs: set[bytes] = set()
    try:
        with ws._get_source() as src:  # openpyxl's own accessor for the sheet part
            tail = b""
            while chunk := src.read(1 << 20):
                buf = tail + chunk
                refs.update(m.group(1) for m in _MERGE_REF.finditer(buf))
                tail = buf[-200:]
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise _wrap_workbook_error(exc) from exc
    merges = []
    for ref in refs:
        min_col, min_row, max_col, max_row = range_boundaries(ref.decode())
        if (min_row, min_col) != (max_row, max_col):
            merges.append(CellRange(min_row, min_col, max_row, max_col))
    return sorted(merges)


def _xls_sheets(data: bytes, filename: str) -> tuple[list[_Sheet], Callable[[], None]]:
    try:
        try:
            book = xlrd.open_workbook(file_contents=data, formatting_info=True, on_demand=True)
        except NotImplementedError:  # formatting_info is not supported for some BIFF versions
            book = xlrd.open_workbook(file_contents=data, on_demand=True)
    except Exception as exc:  # xlrd.XLRDError, struct errors, CompDocError …
        if Path(filename).suffix.lower() in (".xlsx", ".xlsm"):
            # An OLE file under an .xlsx name that xlrd cannot read is almost always an encrypted .xlsx.
            raise TableError(
                _("The workbook is password-protected; remove the password in Excel and upload it again.")
            ) from exc
        raise _wrap_workbook_error(exc) from exc

    def rows(sh) -> Iterator[list]:
        for r in range(sh.nrows):
            yield [_xls_value(book, cell) for cell in sh.row(r)]

    sheets = []
    for index, name in enumerate(book.sheet_names()):
        sh = book.sheet_by_index(index)
        merges = [CellRange(rlo + 1, clo + 1, rhi, chi) for rlo, rhi, clo, chi in sh.merged_cells]
        sheets.append(_Sheet(name, sh.visibility == 0, lambda sh=sh: rows(sh), lambda m=merges: m))
    return sheets, book.release_resources


def _xls_value(book, cell) -> Any:
    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
        return None
    if cell.ctype == xlrd.XL_CELL_DATE:
        try:
            return xlrd.xldate.xldate_as_datetime(cell.value, book.datemode)
        except (ValueError, OverflowError, xlrd.xldate.XLDateError):
            return cell.value
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return bool(cell.value)
    if cell.ctype == xlrd.XL_CELL_NUMBER and float(cell.value).is_integer():
        # BIFF stores every number as a float; openpyxl reads whole numbers as int, so do the same.
        return int(cell.value)
    return cell.value


def _decode_text(data: bytes) -> tuple[str, str]:
    """Decode delimited text: BOMs first, then strict UTF-8, GB18030 (a superset of GBK), then a guess."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                break
    for encoding in ("utf-8", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _is_text(text):
            return text, encoding
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and _is_text(str(best)):
        return str(best), best.encoding
    raise TableError(_("The text file could not be decoded; save it as UTF-8 or GBK and upload it again."))


def _is_text(text: str) -> bool:
    controls = sum(1 for ch in text[:20000] if ord(ch) < 32 and ch not in "\r\n\t")
    return controls == 0


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most consistent number of fields."""
    sample = [line for line in text.splitlines()[:30] if line.strip()]
    best, best_score = ",", (0, 0)
    for delimiter in (",", "\t", ";", "|"):
        counts = [len(row) for row in csv.reader(sample, delimiter=delimiter)]
        if not counts:
            continue
        mode = statistics.mode(counts)
        if mode < 2:
            continue
        score = (sum(1 for n in counts if n == mode), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


# --- header and data detection -------------------------------------------------------------------


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()  # also strips full-width spaces
    return str(value)


def _is_value_like(value: Any) -> bool:
    """A cell that reads as data (a number, date, ID or phone), never as a column name."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float | datetime | date | time):
        return True
    text = _text(value)
    return bool(_VALUE_LIKE.match(text)) and sum(ch.isdigit() for ch in text) >= 3


def _seq_header(text: str) -> bool:
    return re.sub(r"\s+", "", text).lower() in SEQ_HEADERS


class _Grid:
    """The top rows of a sheet with merged cells resolved to their anchors."""

    def __init__(self, rows: list[list], merges: list[CellRange]):
        self.rows = rows
        self.width = max((len(r) for r in rows), default=0)
        self.anchor: dict[tuple[int, int], tuple[int, int]] = {}
        self.merge_at: dict[tuple[int, int], CellRange] = {}
        for m in merges:
            self.merge_at[(m.min_row - 1, m.min_col - 1)] = m
            if m.min_row > len(rows):
                continue
            for r in range(m.min_row - 1, min(m.max_row, len(rows))):
                for c in range(m.min_col - 1, min(m.max_col, self.width)):
                    self.anchor[(r, c)] = (m.min_row - 1, m.min_col - 1)

    def raw(self, r: int, c: int) -> Any:
        row = self.rows[r]
        return row[c] if c < len(row) else None

    def own(self, r: int) -> list[tuple[int, str, Any]]:
        """Non-empty cells of a row written in that row: (column, text, value)."""
        return [(c, _text(v), v) for c, v in enumerate(self.rows[r]) if not _is_empty(v)]

    def filled(self, r: int, c: int) -> tuple[str, tuple[int, int]]:
        """The text shown at (r, c), merges resolved, and the cell it comes from."""
        ar, ac = self.anchor.get((r, c), (r, c))
        return _text(self.raw(ar, ac)), (ar, ac)

    def covered(self, r: int) -> set[int]:
        return {c for c in range(self.width) if self.filled(r, c)[0]}

    def h_span(self, r: int, c: int) -> int:
        m = self.merge_at.get((r, c))
        return m.max_col - m.min_col + 1 if m else 1


def _header_like(grid: _Grid, r: int) -> bool:
    """Every written cell of the row reads as a column name."""
    own = grid.own(r)
    if not own:
        return False
    texts = [t for _c, t, _v in own]
    if sum(1 for t in texts if _LABEL_COLON.search(t)) * 2 >= len(texts):
        return False
    if sum(1 for _c, _t, v in own if _is_value_like(v)) * 5 > len(own):
        return False
    return sum(1 for t in texts if len(t) > MAX_HEADER_TEXT) * 5 <= len(own)


def _find_header(grid: _Grid) -> list[int] | None:
    """0-based rows of the header block, or None."""
    extents = []
    for r in range(len(grid.rows)):
        own = grid.own(r)
        if len({t for _c, t, _v in own}) >= 2:
            extents.append(max(grid.covered(r)) + 1)
    if not extents:
        return None
    typical = statistics.median(extents)
    top = None
    for r in range(len(grid.rows)):
        own = grid.own(r)
        if len({t for _c, t, _v in own}) < 2 or not _header_like(grid, r):
            continue
        if len(grid.covered(r)) >= 0.5 * typical:
            top = r
            break
    if top is None:
        return None
    # A group row above whose cells were mostly left empty (no merges) did not reach the coverage bar.
    if top > 0 and _group_row_above(grid, top - 1, top):
        top -= 1
    block = [top]
    while len(block) < MAX_HEADER_ROWS and block[-1] + 1 < len(grid.rows):
        if not _continues_header(grid, block[-1], block[-1] + 1):
            break
        block.append(block[-1] + 1)
    return block


def _group_row_above(grid: _Grid, upper: int, lower: int) -> bool:
    own = grid.own(upper)
    if len({t for _c, t, _v in own}) < 2 or not _header_like(grid, upper):
        return False
    up, low = grid.covered(upper), grid.covered(lower)
    # Leaf headers standing alone above empty cells, and group headers above sub-columns.
    return bool(up - low) and bool(low - up) and bool(up & low)


def _continues_header(grid: _Grid, r: int, nxt: int) -> bool:
    """Is row ``nxt`` more of the header that row ``r`` ends?"""
    if not grid.own(nxt) or not _header_like(grid, nxt):
        return False
    # A header cell merged down into the next row.
    for c in range(grid.width):
        text, (anchor_row, _anchor_col) = grid.filled(nxt, c)
        if text and anchor_row <= r:
            return True
    own_next = {c for c, _t, _v in grid.own(nxt)}
    # A group header merged across columns with sub-headers written beneath.
    for c, _t, _v in grid.own(r):
        span = grid.h_span(r, c)
        if span >= 2 and len(own_next & set(range(c, c + span))) >= 2:
            return True
    # No merges: the next row fills exactly the gaps the group row left.
    written = {c for c, _t, _v in grid.own(r)}
    if not written:
        return False
    gaps = set(range(min(written), max(own_next | written) + 1)) - written
    return bool(gaps) and gaps <= own_next and bool(written - own_next)


def _colnum_row(grid: _Grid, r: int, ncols: int) -> bool:
    own = grid.own(r)
    if len(own) < max(3, ncols // 2):
        return False
    numbers = []
    for _c, t, v in own:
        if isinstance(v, int) and not isinstance(v, bool):
            numbers.append(v)
        elif t.isdigit():
            numbers.append(int(t))
        else:
            return False
    return numbers == list(range(numbers[0], numbers[0] + len(numbers))) and numbers[0] in (0, 1)


def _header_paths(grid: _Grid, block: list[int], ncols: int) -> list[tuple[str, ...]]:
    paths = []
    for c in range(ncols):
        path: list[str] = []
        last_anchor = None
        for i, r in enumerate(block):
            text, anchor = grid.filled(r, c)
            if not text and i + 1 < len(block):
                text, anchor = _unmerged_group(grid, block, i, c)
            if text and anchor != last_anchor:
                path.append(text)
            last_anchor = anchor if text else last_anchor
        paths.append(tuple(path))
    return paths


def _unmerged_group(grid: _Grid, block: list[int], i: int, c: int) -> tuple[str, tuple[int, int] | None]:
    """An empty cell of a group row without merges belongs to the group header on its left."""
    r, below = block[i], block[i + 1]
    if not grid.filled(below, c)[0]:
        return "", None
    for left in range(c - 1, -1, -1):
        text, anchor = grid.filled(r, left)
        if text:
            # Only a group header (one with sub-headers beneath it) spreads to the right.
            return (text, anchor) if grid.filled(below, left)[0] else ("", None)
    return "", None


def _is_footer(cells: list[tuple[int, str, Any]], merge_at: dict, r: int, ncols: int) -> bool:
    first = cells[0][1]
    if _NOTE_START.match(first) or _TOTAL_START.match(first):
        return True
    if _SIGN_START.match(first) and (_LABEL_COLON.search(first) or len(cells) <= 4):
        return True
    if len(cells) <= 4 and sum(1 for _c, t, _v in cells if _LABEL_COLON.search(t)) * 2 >= len(cells):
        return True
    if len(cells) == 1:
        c = cells[0][0]
        m = merge_at.get((r, c))
        if m is not None and (m.max_col - m.min_col + 1) * 2 >= ncols and ncols >= 3:
            return True
        if len(first) >= 10 and (c == 0 or re.search(r"[，。；：:]", first)):
            return True
    return False


def _build_table(rows: Iterable[Sequence], merges: list[CellRange], *, sheet_name: str | None,
                 sheet_names: list[str], kind: str) -> Table | None:
    stream = iter(rows)
    top: list[list] = []
    for row in stream:
        top.append(list(row))
        if len(top) >= HEADER_WINDOW:
            break
    grid = _Grid(top, merges)
    block = _find_header(grid)
    if block is None:
        return None
    hcols = {c for r in block for c in grid.covered(r)}
    ncols = max(hcols) + 1
    paths = _header_paths(grid, block, ncols)
    first = block[-1] + 1
    colnum = None
    if first < len(top) and _colnum_row(grid, first, ncols):
        colnum, first = first, first + 1
    seq_by_header = [i for i, p in enumerate(paths) if p and _seq_header(p[-1])]
    seq_cols = set(seq_by_header[:1])

    title_rows, fill_rows = [], []
    for r in range(block[0]):
        own = grid.own(r)
        if not own:
            continue
        if _LABEL_COLON.search(own[0][1]) or _FILL_LINE_START.match(own[0][1]):
            fill_rows.append(r + 1)
        else:
            title_rows.append(r + 1)

    def remaining() -> Iterator[tuple[int, list]]:
        yield from ((r, top[r]) for r in range(first, len(top)))
        yield from enumerate((list(row) for row in stream), start=len(top))

    # A cell merged down over several data rows (户主姓名 over a household's members) holds its value
    # in every row it covers, as the sheet shows it. Only the anchor's column is filled.
    anchor_cols: dict[int, list[int]] = {}  # 0-based anchor row -> columns
    covered_by: dict[int, list[tuple[int, int]]] = {}  # 0-based row -> [(column, anchor row)]
    for m in merges:
        if m.max_row > m.min_row and m.min_row - 1 >= first:
            anchor_cols.setdefault(m.min_row - 1, []).append(m.min_col - 1)
            for r in range(m.min_row, m.max_row):
                covered_by.setdefault(r, []).append((m.min_col - 1, m.min_row - 1))
    anchors: dict[tuple[int, int], Any] = {}

    data: list[tuple[int, list]] = []
    footer: list[int] = []
    width = ncols
    for r, values in remaining():
        for c in anchor_cols.get(r, ()):
            anchors[(r, c)] = values[c] if c < len(values) else None
        for c, anchor_row in covered_by.get(r, ()):
            if c >= len(values):
                values.extend([None] * (c + 1 - len(values)))
            if values[c] is None:
                values[c] = anchors.get((anchor_row, c))
        cells = [(c, _text(v), v) for c, v in enumerate(values) if not _is_empty(v)]
        if not cells:
            continue
        if footer:
            footer.append(r + 1)
            continue
        if _is_footer(cells, grid.merge_at, r, ncols):
            footer.append(r + 1)
            continue
        if all(c in seq_cols for c, _t, _v in cells):
            continue  # a pre-numbered empty row of a template
        data.append((r, values))
        width = max(width, cells[-1][0] + 1)

    columns = [
        Column(index=i, letter=get_column_letter(i + 1), header_text=paths[i][-1] if i < ncols and paths[i] else "",
               header_path=paths[i] if i < ncols else ())
        for i in range(width)
    ]
    data_rows = [
        DataRow(row_number=n, sheet_row=r + 1, values=(values + [None] * width)[:width])
        for n, (r, values) in enumerate(data, start=1)
    ]
    table = Table(
        sheet_name=sheet_name, sheet_names=sheet_names, format=kind, header_rows=[r + 1 for r in block],
        first_data_row=first + 1, columns=columns, rows=data_rows, footer_rows=footer, title_rows=title_rows,
        fill_line_rows=fill_rows, colnum_row=None if colnum is None else colnum + 1, merges=sorted(merges),
    )
    table.seq_column = seq_by_header[0] if seq_by_header else _seq_by_values(table)
    return table


def _seq_by_values(table: Table) -> int | None:
    """A leading column numbering the data rows 1..n."""
    if table.n_data_rows < 3:
        return None
    for index in range(min(2, len(table.columns))):
        hits = 0
        for row in table.rows:
            value = row.values[index]
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            if value == row.row_number and not isinstance(value, bool):
                hits += 1
        if hits >= 0.9 * table.n_data_rows:
            return index
    return None
