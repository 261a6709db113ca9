"""Writing golden values into a department's template, keeping its layout.

``plan_columns`` maps the template's headers to catalog elements with the one mapping engine
(drop-down options serve as value evidence) and decides, per column, how a registry value is
written: the drop-down's spelling (label ``男``, code ``1`` or a code-label pair), the date format
and precision (…年月 columns get the month), numbers as numbers, IDs and other long digit strings
as text cells.

``write_workbook`` writes one row per record from the first data row on: the title, header and
their merges stay as they are; new rows take the styles of the first pre-formatted row; the
footer (注：…, 填表人/审核人) and anything else below the prepared rows moves down with its merges
and row heights; drop-downs, conditional formats, the print area and the auto-filter are
extended over the new rows; other sheets are untouched; 填报单位 and 填报日期 are filled in when
they are blank.
"""

import io
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable
from copy import copy
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import openpyxl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.formatting.formatting import ConditionalFormattingList
from openpyxl.styles import Alignment, Font
from openpyxl.styles.cell_style import StyleArray
from openpyxl.styles.numbers import is_date_format
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet.cell_range import CellRange, MultiCellRange

from yici.catalog.mapping import ColumnInput, ElementIndex, map_columns
from yici.reports.layout import TemplateColumn, TemplateError, TemplateLayout, option_text
from yici.reports.population import REACHABLE, Row
from yici.reports.xlsxzip import (
    Compressor,
    DeflateSink,
    PartTooLarge,
    Piece,
    build_zip,
    deflate_piece,
    join_pieces,
)

TEXT_FORMAT = "@"
DATE_FORMAT = "yyyy-mm-dd"
_SEPARATORS = r"[-_.:：、\s]?"
_MONTH_HEADER = re.compile(r"年月(?!日)")
_YEAR_HEADER = re.compile(r"(年份|年度)$")
_CODE_HEADER = re.compile(r"(代码|编码|代号)")
_DIGITS = re.compile(r"^\d[\dXx]*$")


@dataclass
class ColumnPlan:
    column: TemplateColumn
    element: str | None
    confidence: float = 0.0
    method: str = "none"
    note: str = ""  # why a mapped element was dropped, or how values are written
    write: Callable[[str], "Written"] | None = None

    @property
    def letter(self) -> str:
        return self.column.letter


@dataclass(frozen=True, slots=True)
class Written:
    value: Any  # the cell value, None when nothing can be written
    number_format: str | None = None  # the cell's format when it differs from the column's
    reason: str = ""  # why nothing was written: missing | not_in_options


MISSING = Written(None, None, "missing")
NOT_IN_OPTIONS = Written(None, None, "not_in_options")


@dataclass(frozen=True)
class Gap:
    """A cell Yici could not fill: typed by a person later (gap-only entry)."""

    row: int  # sheet row
    key: str  # the golden record, "person:123"
    column: str  # column letter
    element: str
    header: str
    reason: str  # missing | not_in_options

    def as_json(self) -> dict:
        return {"row": self.row, "key": self.key, "column": self.column, "element": self.element,
                "header": self.header, "reason": self.reason}


# --- columns -------------------------------------------------------------------------------------


def plan_columns(layout: TemplateLayout, index: ElementIndex, *, context: str = "") -> list[ColumnPlan]:
    """Map each column of the template to an element (or None) and prepare its writer."""
    plans = [ColumnPlan(column=c, element=None) for c in layout.columns]
    candidates = [p for p in plans if not p.column.is_seq and p.column.header_path]
    inputs = [ColumnInput(header_path=p.column.header_path,
                          samples=p.column.dropdown.texts if p.column.dropdown else ())
              for p in candidates]
    for plan, mapping in zip(candidates, map_columns(inputs, context=context, elements=index), strict=True):
        plan.element, plan.confidence, plan.method = mapping.element_code, mapping.confidence, mapping.method
    return plans


def row_entity(plans: list[ColumnPlan]) -> str | None:
    """The entity the rows are: the one most mapped columns belong to (a house's owner columns are
    house elements; on a tie a house, place or household beats a person, whose columns such files carry)."""
    counts = Counter(p.element.split(".", 1)[0] for p in plans if p.element)
    if not counts:
        return None
    return max(counts, key=lambda e: (counts[e], e != "person"))


def prepare_writers(plans: list[ColumnPlan], entity: str, index: ElementIndex) -> None:
    """Drop elements the rows cannot show; give every mapped column its writer."""
    for plan in plans:
        if not plan.element:
            continue
        if plan.element.split(".", 1)[0] not in REACHABLE[entity]:
            plan.note = f"{plan.element} is not available on {entity} rows"
            plan.element = None
            continue
        plan.write = _writer(plan.column, index.by_code[plan.element])


def _writer(column: TemplateColumn, element) -> Callable[[str], Written]:
    fmt = column.number_format or "General"
    header = _norm(column.header_text)
    if element.type in ("code", "bool") and element.values:
        return _code_writer(column, element, header)
    if column.dropdown is not None:
        return _option_writer(column)
    if element.type in ("date", "datetime"):
        return _date_writer(fmt, header)
    if element.type == "int":
        return _number_writer(int, fmt)
    if element.type == "decimal":
        return _number_writer(float, fmt)
    return _text_writer


@lru_cache(maxsize=8192)
def _norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text or ""))).upper()


def _text_writer(value: str) -> Written:
    if not value:
        return MISSING
    # IDs, house codes, phones: Excel keeps only 15 digits of a number, and drops leading zeros.
    return Written(value, TEXT_FORMAT if _DIGITS.match(value) else None)


def _code_writer(column: TemplateColumn, element, header: str) -> Callable[[str], Written]:
    by_label: dict[str, tuple[str, str]] = {}  # any spelling → (code, label)
    for code, label, aliases in element.values:
        for spelling in (label, code, *aliases):
            by_label.setdefault(_norm(spelling), (code, label))
    if column.dropdown is not None:
        spelled = _options_by_code(column.dropdown.options, element)

        def write(value: str) -> Written:
            if not value:
                return MISSING
            found = by_label.get(_norm(value))
            if found is None or found[0] not in spelled:
                return NOT_IN_OPTIONS
            option = spelled[found[0]]
            return Written(option, TEXT_FORMAT if isinstance(option, str) and _DIGITS.match(option) else None)

        return write
    as_code = bool(_CODE_HEADER.search(header))

    def write_plain(value: str) -> Written:
        if not value:
            return MISSING
        found = by_label.get(_norm(value))
        if found is None:
            return Written(value)
        return Written(found[0], TEXT_FORMAT) if as_code else Written(found[1])

    return write_plain


def _options_by_code(options, element) -> dict[str, Any]:
    """Each code of the element's list → the drop-down option that says it (label, code or pair)."""
    spelled: dict[str, Any] = {}
    codes = {_norm(code): code for code, _label, _aliases in element.values}
    names: dict[str, str] = {}
    for code, label, aliases in element.values:
        for spelling in (label, *aliases):
            names.setdefault(_norm(spelling), code)
    for option in options:
        text = _norm(option_text(option))
        code = names.get(text) or codes.get(text)
        if code is None and isinstance(option, int | float) and text.isdigit():
            # A 字典 sheet may hold codes as numbers: 1 for "01".
            code = next((c for n, c in codes.items() if n.isdigit() and int(n) == int(text)), None)
        if code is None:
            pair = re.match(rf"^([0-9A-Z]+){_SEPARATORS}(.+)$", text) or None
            if pair and pair.group(1) in codes and names.get(pair.group(2)) == codes[pair.group(1)]:
                code = codes[pair.group(1)]
            pair = re.match(r"^(.+?)[(\[]([0-9A-Z]+)[)\]]$", text)
            if code is None and pair and pair.group(2) in codes and names.get(pair.group(1)) == codes[pair.group(2)]:
                code = codes[pair.group(2)]
        if code is not None:
            spelled.setdefault(code, option)
    return spelled


def _option_writer(column: TemplateColumn) -> Callable[[str], Written]:
    options = {_norm(option_text(o)): o for o in column.dropdown.options}

    def write(value: str) -> Written:
        if not value:
            return MISSING
        option = options.get(_norm(value))
        return NOT_IN_OPTIONS if option is None else Written(option)

    return write


def _date_writer(fmt: str, header: str) -> Callable[[str], Written]:
    precision = "year" if _YEAR_HEADER.search(header) else "month" if _MONTH_HEADER.search(header) else "day"
    date_cell = is_date_format(fmt)

    def write(value: str) -> Written:
        if not value:
            return MISSING
        try:
            day = date.fromisoformat(value[:10])
        except ValueError:
            return Written(value)
        if precision == "year":
            return Written(day.year)
        if date_cell:
            return Written(datetime(day.year, day.month, day.day))
        if precision == "month":
            return Written(f"{day.year:04d}-{day.month:02d}", TEXT_FORMAT)
        if fmt == TEXT_FORMAT:
            return Written(day.isoformat())
        return Written(datetime(day.year, day.month, day.day), DATE_FORMAT)

    return write


def _number_writer(kind: type, fmt: str) -> Callable[[str], Written]:
    def write(value: str) -> Written:
        if not value:
            return MISSING
        try:
            number = kind(float(value)) if kind is int else float(value)
        except ValueError:
            return Written(value)
        return Written(str(value) if fmt == TEXT_FORMAT else number)

    return write


# --- the workbook --------------------------------------------------------------------------------


@dataclass
class WriteOutcome:
    workbook: bytes
    cells_filled: int
    gaps: list[Gap]
    rows: int = 0
    gap_count: int = 0


def write_workbook(layout: TemplateLayout, plans: list[ColumnPlan], rows: list[Row], *, area_name: str,
                   as_of: date) -> WriteOutcome:
    """Write ``rows`` into the template (a village's fill: the gaps are collected)."""
    with SheetWriter(layout, plans) as writer:
        for row in rows:
            writer.add(row)
        return writer.finish(area_name=area_name, as_of=as_of)


class Target:
    """A sheet being written: its rows so far go to a compressed stream."""

    def __init__(self, sink: DeflateSink, first: int, *, title: str = "", area_name: str = ""):
        self.sink, self.first, self.title, self.area_name = sink, first, title, area_name
        self.n = 0
        self.piece: Piece | None = None


class SheetWriter:
    """A template being filled row by row. The data rows go through the column writers straight
    into the sheet's XML, compressed as they come (a county's million rows are never held as
    rows, cells or XML); the rest of the layout — the footer moved under the last row with its
    merges and heights, drop-downs, conditional formats, print area and auto-filter extended,
    填报单位/填报日期 filled — is done when the number of rows is known (``finish``).

    ``add`` writes one row to the main sheet, and to an extra sheet (``extra_sheet``: one per
    village in a 汇总) if asked. Gap cells are collected as ``Gap`` objects only when
    ``collect_gaps``; they are always counted. ``row_offset`` starts the main sheet's rows further
    down (the rows of another process come before them: see ``reports.parallel``).
    """

    def __init__(self, layout: TemplateLayout, plans: list[ColumnPlan], *, collect_gaps: bool = True,
                 row_offset: int = 0, style_cache: dict | None = None):
        self.layout, self.plans, self.collect_gaps = layout, plans, collect_gaps
        self.book = openpyxl.load_workbook(io.BytesIO(layout.data))
        self.ws = self.book[layout.sheet_name]
        self.first, self.prepared = layout.first_data_row, layout.prefilled_rows
        self.width = len(layout.columns)
        base_styles, self.base_attrs = _row_styles(self.ws, layout, self.width)
        self.base_styles = base_styles
        # The prepared rows are taken out of the sheet, keeping their looks for the rows written there.
        self.taken = _take_rows(self.ws, self.first, self.first + self.prepared)
        self.xml = _SheetXml(self.book, frozen=style_cache)
        self.formats = _StyleCache(self.ws)
        self.seq = layout.seq_column + 1 if layout.seq_column is not None else None
        self.mapped = [(p.column.index + 1, p) for p in plans if p.element and p.write is not None]
        self.by_letter = {p.letter: p for p in plans}
        self._register_styles()
        self.compressor = Compressor()
        self.main = Target(self.compressor.sink(), self.first + row_offset)
        self.offset = row_offset
        self.extra: list[Target] = []
        self.gap_count = 0
        self.gaps: list[Gap] = []
        self._render = self._compile_row()

    def __enter__(self) -> "SheetWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.compressor.close()

    # -- styles --

    def _register_styles(self) -> None:
        """Every style a data cell can take, registered in one order (the same in every process
        that writes part of the rows): the row styles, and each with a text or date format."""
        mapped = {col for col, _plan in self.mapped}
        rows = [self.base_styles] + [styles for _r, (styles, _a, _c) in sorted(self.taken.items())]
        for styles in rows:
            for col in sorted(set(styles) | mapped):
                style = styles.get(col)
                if style is not None:
                    self.xml.style_attr(style)
                if col in mapped:
                    for fmt in (TEXT_FORMAT, DATE_FORMAT):
                        self.xml.style_attr(self.formats.with_format(style or _DEFAULT_STYLE, fmt))

    def style_cache(self) -> dict:
        return self.xml.export()

    # -- rows --

    def _compile_row(self) -> Callable:
        """The function that writes a new row (not a prepared one): ``render(r, seq, values, typed,
        collect, key) -> str``. It is generated for the template's columns — one straight run of
        code per column, the cell's style and reference in place — because at a million rows the
        loop over columns and its lookups cost more than the cells. Only letters and fixed tags
        are put into the code; element codes, styles and writers are passed in by name."""
        styles, xml, formats = self.base_styles, self.xml, self.formats
        mapped = dict(self.mapped)
        headed = {c.index + 1 for c in self.layout.columns if c.header_text}  # typed values may go there
        columns = sorted(set(styles) | set(mapped) | headed | ({self.seq} if self.seq else set()))
        env: dict[str, Any] = {"search": _SPECIAL.search, "esc": _xml_text, "digits": _DIGITS.match, "W": self,
                               "body": _cell_body, "epoch": self.book.epoch, "ROW": self.base_attrs_xml}
        code = ["def render(r, seq, values, typed, collect, key):", "    get = values.get",
                "    o = [f'<row r=\"{r}\"{ROW}>']", "    add = o.append"]
        for col in columns:
            style = styles.get(col)
            attr = xml.style_attr(style) if style is not None else ""
            letter = xml.letters[col] if col < len(xml.letters) else get_column_letter(col)
            assert letter.isalpha()
            a, t, e, p, c, m = (f"A{col}", f"T{col}", f"E{col}", f"P{col}", f"C{col}", f"M{col}")
            env[a] = attr
            empty = f"        add(f'<c r=\"{letter}{{r}}\"{{{a}}}/>')" if attr else "        pass"
            plan = mapped.get(col)
            if col == self.seq:
                code.append(f"    add(f'<c r=\"{letter}{{r}}\"{{{a}}}><v>{{seq}}</v></c>')")
            elif plan is not None:
                env[e], env[p] = plan.element, plan
                env[t] = xml.style_attr(formats.with_format(style or _DEFAULT_STYLE, TEXT_FORMAT))
                if plan.write is _text_writer:  # names, IDs, addresses: mostly distinct, written directly
                    code += [
                        f"    v = get({e})",
                        "    if v:",
                        "        x = v if search(v) is None else esc(v)",
                        "        if x != x.strip():",
                        f"            add(f'<c r=\"{letter}{{r}}\"{{{a}}} t=\"inlineStr\"><is>"
                        "<t xml:space=\"preserve\">{x}</t></is></c>')",
                        "        else:",
                        f"            add(f'<c r=\"{letter}{{r}}\"{{{t} if digits(v) else {a}}} t=\"inlineStr\">"
                        "<is><t>{x}</t></is></c>')",
                        "    else:",
                        "        if collect:",
                        "            W.gap_count += 1",
                        f"            W.gap(r, key, {p}, 'missing')",
                        empty,
                    ]
                else:  # code lists, options, dates, numbers: few distinct values, each written once
                    env[c] = {}
                    env[m] = self._cell_maker(plan, style, env[c])
                    code += [
                        f"    v = get({e}, '')",
                        f"    b = {c}.get(v)",
                        "    if b is None:",
                        f"        b = {m}(v)",
                        "    if b[0] is None:",
                        "        if collect:",
                        "            W.gap_count += 1",
                        f"            W.gap(r, key, {p}, b[1])",
                        empty,
                        "    else:",
                        f"        add(f'<c r=\"{letter}{{r}}\"{{b[0]}}')",
                    ]
            else:
                code += [
                    f"    x = typed.get({letter!r}) if typed else None",
                    "    if x:",
                    f"        add(f'<c r=\"{letter}{{r}}\"' + body(x, {a}, epoch))",
                    "    else:",
                    empty,
                ]
        code += ["    add('</row>')", "    return ''.join(o)"]
        exec(compile("\n".join(code), "<yici.reports.fill row>", "exec"), env)  # noqa: S102
        return env["render"]

    def _cell_maker(self, plan: ColumnPlan, style, cache: dict) -> Callable[[str], tuple]:
        by_format = {None: self.xml.style_attr(style) if style is not None else ""}
        for fmt in (TEXT_FORMAT, DATE_FORMAT):
            by_format[fmt] = self.xml.style_attr(self.formats.with_format(style or _DEFAULT_STYLE, fmt))
        epoch = self.book.epoch

        def make(value: str) -> tuple:
            written = plan.write(value)
            if written.value is None:
                found = (None, written.reason)
            else:
                found = (_cell_body(written.value, by_format[written.number_format], epoch), "")
            if len(cache) < 65536:  # dates of birth: tens of thousands in a county
                cache[value] = found
            return found

        return make

    def add(self, row: Row, *, typed: dict[str, str] | None = None, extra: Target | None = None) -> None:
        """Write ``row``; ``typed`` (column letter → text) lays a cadre's values over it: those of
        mapped columns go through the column's writer, the others are written as text."""
        values = row.values
        if typed:
            values = dict(values)
            for letter, value in typed.items():
                plan = self.by_letter.get(letter)
                if plan is not None and plan.element:
                    values[plan.element] = value
        for target, collect in ((self.main, True), (extra, False)):
            if target is None:
                continue
            r = target.first + target.n
            target.n += 1
            seq = r - self.first + 1
            if r < self.first + self.prepared:
                target.sink.write(self._prepared_row(r, seq, row, values, typed, collect))
            else:
                target.sink.write(self._render(r, seq, values, typed, collect, row.key))

    def _prepared_row(self, r: int, seq: int, row: Row, values: dict, typed, collect: bool) -> str:
        """A row where the department prepared one: its own styles, heights and merges."""
        styles, attrs, covered = self.taken.get(r) or (
            self.base_styles, self.base_attrs, set())
        styles, cells = dict(styles), {}
        if self.seq is not None:
            cells[self.seq] = seq
        for col, plan in self.mapped:
            written = plan.write(values.get(plan.element, ""))
            reason = written.reason if written.value is None else "merged" if col in covered else ""
            if reason:
                if collect:
                    self.gap_count += 1
                    self.gap(r, row.key, plan, reason)
                continue
            cells[col] = written.value
            if written.number_format is not None:
                styles[col] = self.formats.with_format(styles.get(col) or _DEFAULT_STYLE, written.number_format)
        for letter, text in (typed or {}).items():
            plan = self.by_letter.get(letter)
            if text and plan is not None and not plan.element and not plan.column.is_seq:
                cells[plan.column.index + 1] = text
        return self.xml.row(r, attrs, styles, cells)

    def gap(self, r: int, key: str, plan: ColumnPlan, reason: str) -> None:
        if self.collect_gaps:
            self.gaps.append(Gap(r, key, plan.letter, plan.element, plan.column.header_text, reason))

    @property
    def base_attrs_xml(self) -> str:
        return "".join(f' {k}="{v}"' for k, v in self.base_attrs.items())

    def extra_sheet(self, title: str, area_name: str) -> Target:
        target = Target(self.compressor.sink(), self.first, title=title, area_name=area_name)
        self.extra.append(target)
        return target

    # -- the workbook --

    def close_rows(self, sink: DeflateSink, total: int) -> Piece:
        """The prepared rows left over under ``total`` records, blank again (a pre-numbered 序号,
        a sample row)."""
        for r in range(self.first + total, self.first + self.prepared):
            styles, attrs, _covered = self.taken.get(r) or ({}, {}, set())
            sink.write(self.xml.row(r, attrs, styles, {}))
        return sink.close()

    def close_part(self) -> tuple[Piece, list[Target]]:
        """This writer's rows, for another process's ``finish``: the main sheet's and the extra
        sheets' (each closed with its leftover prepared rows)."""
        for target in self.extra:
            target.piece = join_pieces([target.sink.close(), self.close_rows(self.compressor.sink(), target.n)])
            target.sink = None
        return self.main.sink.close(), self.extra

    def finish(self, *, area_name: str, as_of: date, after: list[tuple[Piece, int]] = (),
               extra_after: list[Target] = ()) -> WriteOutcome:
        """The workbook. ``after`` are rows another process wrote for the main sheet after this
        writer's own (a piece and its number of rows); ``extra_after`` its extra sheets."""
        total = self.main.n + sum(n for _piece, n in after)
        own = self.main.sink.close()
        leftover = self.compressor.sink()
        main_rows = join_pieces([own, *(piece for piece, _n in after), self.close_rows(leftover, total)])
        sheets = [(self.ws, total, main_rows, area_name)]
        for target in [*self.extra, *extra_after]:
            if target.piece is None:
                rows = target.sink.close()
                target.piece = join_pieces([rows, self.close_rows(self.compressor.sink(), target.n)])
            sheet = self.book.copy_worksheet(self.ws)
            sheet.title = _sheet_title(target.title, self.book)
            sheets.append((sheet, target.n, target.piece, target.area_name))
        for sheet, n, _piece, name in sheets:
            below = self.first + self.prepared
            shift = max(n - self.prepared, 0)
            if shift:
                _shift_rows(sheet, below, shift)
            _extend_ranges(sheet, self.first, self.first + n - 1, below, shift)
            _fill_lines(sheet, self.layout.fill_line_rows, name, as_of)
        out = io.BytesIO()
        self.book.save(out)
        skeleton = out.getvalue()
        source = zipfile.ZipFile(io.BytesIO(skeleton))
        replaced = {}
        for sheet, n, piece, _name in sheets:
            part = sheet.path.lstrip("/")
            end = self.first + max(n, self.prepared)
            last_row = max(sheet.max_row, end - 1)
            last_col = max(sheet.max_column, self.width)
            head, tail = _split_sheet(source.read(part).decode("utf-8"), before_row=end,
                                      dimension=f"A1:{get_column_letter(last_col)}{last_row}")
            replaced[part] = join_pieces([deflate_piece(head), piece, deflate_piece(tail, final=True)])
        try:
            data = build_zip(skeleton, replaced)
        except PartTooLarge:
            raise TemplateError(_too_large()) from None
        # Every mapped cell of a row is written or a gap.
        filled = total * len(self.mapped) - self.gap_count
        return WriteOutcome(data, filled, self.gaps, total, self.gap_count)


def _too_large() -> str:
    from django.utils.translation import gettext as _

    return _("The filled sheet would be larger than 4 GB; fill it for a smaller area or with a filter.")


def _sheet_title(title: str, book) -> str:
    title = re.sub(r"[\\/*?:\[\]]", "", title)[:31] or "Sheet"
    base, i = title, 2
    while title in book.sheetnames:
        suffix = f" ({i})"
        title, i = base[: 31 - len(suffix)] + suffix, i + 1
    return title


def _cell_body(value: Any, attr: str, epoch) -> str:
    """A cell's XML after its reference: ``' s="3" t="n"><v>1</v></c>'``."""
    if isinstance(value, str):
        text = _xml_text(value)
        space = ' xml:space="preserve"' if text != text.strip() else ""
        return f'{attr} t="inlineStr"><is><t{space}>{text}</t></is></c>'
    if isinstance(value, bool):
        return f'{attr} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):  # (a number is the default type: no t="n")
        return f'{attr}><v>{value!r}</v></c>'
    if isinstance(value, datetime | date):
        return f'{attr}><v>{to_excel(value, epoch)!r}</v></c>'
    return f'{attr} t="inlineStr"><is><t>{_xml_text(str(value))}</t></is></c>'


_DEFAULT_STYLE = StyleArray()


def _take_rows(ws, start: int, end: int) -> dict[int, tuple[dict, dict, set]]:
    """Remove rows ``start``..``end - 1`` from the sheet, keeping per row its cell styles by column,
    its row attributes (height …) and the columns a merge covers. Their values are replaced."""
    taken: dict[int, tuple[dict, dict, set]] = {}
    cells = ws._cells
    for key in [k for k in cells if start <= k[0] < end]:
        cell = cells.pop(key)
        styles, _attrs, covered = taken.setdefault(key[0], ({}, {}, set()))
        styles[key[1]] = cell._style
        if not isinstance(cell, Cell):
            covered.add(key[1])
    dims = ws.row_dimensions
    for r in [r for r in dims if start <= r < end]:
        attrs = dict(dims.pop(r))
        attrs.pop("r", None)
        taken.setdefault(r, ({}, {}, set()))[1].update(attrs)
    return taken


class _SheetXml:
    """``<row>`` elements as openpyxl writes them (inline strings, style ids into cellXfs), but fast."""

    def __init__(self, book, *, frozen: dict | None = None):
        self.book = book
        # Another process's styles (``export``): every style is looked up there, none is added.
        self.frozen = frozen
        self.by_value: dict[tuple, str] = dict(frozen or {})
        self.by_object: dict[int, tuple[Any, str]] = {}  # id(style) → (style, ' s="N"'); the style kept alive
        self.letters = [""] + [get_column_letter(c) for c in range(1, 300)]

    def style_attr(self, style) -> str:
        found = self.by_object.get(id(style))
        if found is not None:
            return found[1]
        key = tuple(style)
        attr = self.by_value.get(key)
        if attr is None:
            if self.frozen is not None:
                raise LookupError("a style the main process did not register")
            sid = self.book._cell_styles.add(StyleArray(style)) if any(style) else 0
            attr = self.by_value[key] = f' s="{sid}"' if sid else ""
        self.by_object[id(style)] = (style, attr)
        return attr

    def export(self) -> dict[tuple, str]:
        return dict(self.by_value)

    def row(self, r: int, attrs: dict, styles: dict, values: dict) -> str:
        extra = "".join(f' {k}="{v}"' for k, v in attrs.items())
        out = [f'<row r="{r}"{extra}>']
        append, letters, style_attr = out.append, self.letters, self.style_attr
        for col in sorted(styles.keys() | values.keys()):
            style = styles.get(col)
            s = style_attr(style) if style is not None else ""
            ref = f"{letters[col] if col < len(letters) else get_column_letter(col)}{r}"
            value = values.get(col)
            if value is None:
                if s:
                    append(f'<c r="{ref}"{s}/>')
            else:
                append(f'<c r="{ref}"{_cell_body(value, s, self.book.epoch)}')
        append("</row>")
        return "".join(out)


_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_text(value: str) -> str:
    if _SPECIAL.search(value) is None:  # most values: nothing to escape or drop
        return value
    return xml_escape(ILLEGAL_CHARACTERS_RE.sub("", value))


_ROW_START = re.compile(r'<row r="(\d+)"')
_DIMENSION = re.compile(r'<dimension ref="[^"]*"\s*/>')


def _split_sheet(xml: str, *, before_row: int, dimension: str) -> tuple[str, str]:
    """The sheet part's XML cut where the data rows go — in ``<sheetData>`` before its first row
    numbered ``before_row`` or more — with the sheet's dimension corrected."""
    xml = _DIMENSION.sub(f'<dimension ref="{dimension}"/>', xml, count=1)
    start = xml.index("<sheetData")
    if xml.startswith("<sheetData/>", start):
        return f"{xml[:start]}<sheetData>", f"</sheetData>{xml[start + len('<sheetData/>'):]}"
    end = xml.index("</sheetData>", start)
    at = end
    for match in _ROW_START.finditer(xml, start, end):
        if int(match.group(1)) >= before_row:
            at = match.start()
            break
    return xml[:at], xml[at:]


class _StyleCache:
    """Style arrays with another number format, made once per (style, format); never modified."""

    def __init__(self, ws):
        self.ws = ws
        self.cache: dict[tuple, Any] = {}

    def with_format(self, style, number_format: str):
        key = (tuple(style), number_format)
        made = self.cache.get(key)
        if made is None:
            scratch = Cell(self.ws, row=1, column=1, style_array=copy(style))
            scratch.number_format = number_format
            made = self.cache[key] = scratch._style
        return made


def _row_styles(ws, layout: TemplateLayout, width: int) -> tuple[dict[int, Any], dict[str, str]]:
    """Cell styles and row attributes (height …) for new data rows: the first prepared row's, else a
    plain copy of the leaf header's cells."""
    if layout.prefilled_rows:
        r = layout.first_data_row
        styles = {c: copy(cell._style) for c in range(1, width + 1) if (cell := ws._cells.get((r, c))) is not None}
        dim = ws.row_dimensions.get(r)
        attrs = {k: v for k, v in dict(dim).items() if k != "r"} if dim is not None else {}
        return styles, attrs
    leaf = layout.header_rows[-1]
    styles = {}
    for c in range(1, width + 1):
        header = ws.cell(leaf, c)
        scratch = Cell(ws, row=1, column=1)
        scratch.border = copy(header.border)
        font = copy(header.font)
        scratch.font = Font(name=font.name, sz=font.sz, color=font.color, charset=font.charset, family=font.family,
                            scheme=font.scheme)
        scratch.alignment = Alignment(vertical="center", wrap_text=bool(header.alignment.wrap_text))
        styles[c] = scratch._style
    return styles, {}


def _shift_rows(ws, start: int, shift: int) -> None:
    """Move every row from ``start`` down by ``shift``: cells, merges and row heights."""
    cells = ws._cells
    for key in sorted((k for k in cells if k[0] >= start), reverse=True):
        cell = cells.pop(key)
        cell.row = key[0] + shift
        cells[(cell.row, key[1])] = cell
    merges = []
    for merged in ws.merged_cells.ranges:
        if merged.min_row >= start:
            merged.shift(row_shift=shift)
        merges.append(merged)
    ws.merged_cells.ranges = set(merges)
    dims = ws.row_dimensions
    for r in sorted((r for r in list(dims) if r >= start), reverse=True):
        dim = dims.pop(r)
        dim.index = r + shift
        dims[r + shift] = dim


def _shifted(rng: CellRange, first: int, last: int, below: int, shift: int) -> CellRange:
    """A range after the move. One that starts on the data rows (a drop-down, the print area) reaches
    the last record; one that lies wholly under the prepared rows (a footer's) moves down with them."""
    if rng.min_row >= below and rng.min_row > first:
        return CellRange(min_col=rng.min_col, min_row=rng.min_row + shift, max_col=rng.max_col,
                         max_row=rng.max_row + shift)
    if rng.max_row >= below:
        max_row = rng.max_row + shift
    elif rng.max_row >= first:
        max_row = max(rng.max_row, last)
    else:
        return rng  # above the data (the header's)
    return CellRange(min_col=rng.min_col, min_row=rng.min_row, max_col=rng.max_col, max_row=max_row)


def _extend_ranges(ws, first: int, last: int, below: int, shift: int) -> None:
    """Drop-downs, conditional formats, print area and auto-filter follow the data rows."""
    for dv in ws.data_validations.dataValidation:
        dv.sqref = MultiCellRange([_shifted(r, first, last, below, shift) for r in dv.sqref.ranges])
    if len(ws.conditional_formatting):
        old, ws.conditional_formatting = ws.conditional_formatting, ConditionalFormattingList()
        for cf in old:
            ranges = " ".join(_shifted(r, first, last, below, shift).coord for r in cf.sqref.ranges)
            for rule in cf.rules:
                ws.conditional_formatting.add(ranges, rule)
    if ws.print_area:
        areas = []
        for area in ws.print_area if isinstance(ws.print_area, list) else str(ws.print_area).split(","):
            ref = area.split("!")[-1].replace("$", "")
            try:
                min_col, min_row, max_col, max_row = range_boundaries(ref)
            except ValueError:
                continue
            rng = _shifted(CellRange(min_col=min_col, min_row=min_row, max_col=max_col, max_row=max_row),
                           first, last, below, shift)
            areas.append(rng.coord)
        if areas:
            ws.print_area = areas
    if ws.auto_filter.ref:
        min_col, min_row, max_col, max_row = range_boundaries(ws.auto_filter.ref)
        rng = _shifted(CellRange(min_col=min_col, min_row=min_row, max_col=max_col, max_row=max_row),
                       first, last, below, shift)
        ws.auto_filter.ref = rng.coord


# --- 填报单位 / 填报日期 -----------------------------------------------------------------------------

_LABEL = re.compile(r"([^\s\u3000：:]{1,16})[：:]")
_UNIT_LABEL = re.compile(r"^(填报|填表|报送|统计|上报)?单位(名称)?([(（](盖章|公章|签章)[)）])?$")
_DATE_LABEL = re.compile(r"^(填报|填表|报送|统计|上报|制表)?(日期|时间)$")
_BLANK_DATE = re.compile(r"^[\s\u3000]*(年[\s\u3000]*月[\s\u3000]*(日)?)?[\s\u3000]*$")


def fill_line_text(text: str, *, area_name: str, as_of: date) -> str:
    """``填报单位：　　填报日期：　年　月　日`` → with the area's name and the as-of date, where blank."""
    matches = list(_LABEL.finditer(text))
    if not matches:
        return text
    out = [text[: matches[0].start()]]
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        value = text[match.end(): end]
        label = match.group(1)
        out.append(match.group(0))
        # Nothing between this label and the next one means the next "label" swallowed our value.
        separated = value != "" or i + 1 == len(matches)
        padding = value[len(value.rstrip(" \u3000\t")):]
        if _UNIT_LABEL.match(label) and separated and not value.strip(" \u3000\t") and area_name:
            value = area_name + padding
        elif _DATE_LABEL.match(label) and separated and _BLANK_DATE.match(value):
            value = f"{as_of.year}年{as_of.month}月{as_of.day}日" + padding
        out.append(value)
    return "".join(out)


def _fill_lines(ws, rows: list[int], area_name: str, as_of: date) -> None:
    for r in rows:
        for cell in ws[r]:
            if isinstance(cell, Cell) and isinstance(cell.value, str):
                filled = fill_line_text(cell.value, area_name=area_name, as_of=as_of)
                if filled != cell.value:
                    cell.value = filled
