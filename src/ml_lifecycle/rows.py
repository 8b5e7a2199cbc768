"""Raw rows -> typed model rows. One home for the steps training, monitoring and serving share.

Every pipeline that meets raw data (training files, production batches, inference inputs,
service requests) goes through these functions, so the rows a model sees are prepared the
same way everywhere: no training-serving skew.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from itertools import compress, repeat
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ml_lifecycle.spec import ProblemSpec, RawSource, snake_case

if TYPE_CHECKING:
    from ml_lifecycle.bundle import InputLimits

SOURCE_COLUMN = "source_file"
LINE_COLUMN = "source_line"  # the file line a row starts on, for messages and the removed-rows report
RECORD_PROBLEM_COLUMN = "record_problem"  # why a record is malformed as a whole ('' when it is not)
ECHO_LIMIT = 40  # characters of a value a message repeats
# C0, DEL and C1 control characters: never part of a value; pandas' parser would cut a value short at a NUL
CONTROL_CHARACTERS = "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)])
_CONTROL = re.compile(f"[{re.escape(CONTROL_CHARACTERS)}]")


class DataValidationError(ValueError):
    """Raw data breaks a rule of the spec; the message names the file, column and rule."""


@dataclass(frozen=True)
class RawTable:
    """A raw file's records as text columns (index: record number from 0), the line each starts on, and why each is malformed."""

    frame: pd.DataFrame
    lines: pd.Series
    problems: pd.Series


def excerpt(text: str, limit: int = ECHO_LIMIT) -> str:
    """Return a value as a message may repeat it: whole when short, else its start and its length."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def control_character_problem(text: str) -> str:
    """Return why `text` is refused for holding a control character ('' when it holds none)."""
    found = _CONTROL.search(text)
    return "" if found is None else (f"holds control character U+{ord(found.group()):04X} (rule: no control characters "
                                     "U+0000-U+001F, U+007F-U+009F)")


def decode_text(content: bytes, file: str, raw: RawSource) -> str:
    """Return a raw file's text with line ends as '\\n' and no UTF-8 byte-order mark; raise naming the line and byte of a bad byte."""
    utf8 = codecs.lookup(raw.encoding).name == "utf-8"
    try:
        text = content.decode("utf-8-sig" if utf8 else raw.encoding)
    except UnicodeDecodeError as error:
        start = error.start  # the decoder's offset counts from the first byte, a byte-order mark included
        line, line_start = content.count(b"\n", 0, start) + 1, content.rfind(b"\n", 0, start) + 1
        raise DataValidationError(
            f"{file}: line {line}, byte {start - line_start + 1} of the line "
            f"(byte offset {start} in the file) is not {raw.encoding} text: {content[start:error.end]!r} "
            "(rule: problem.raw.encoding)"
        ) from None
    return text.replace("\r\n", "\n") if "\r" in text else text


def _ascii_bytes(text: str) -> np.ndarray | None:
    """Return an ASCII text's bytes as an array (one per character, for numpy-speed scans); None for other text."""
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8) if text.isascii() else None


def split_records(text: str, data: np.ndarray | None, raw: RawSource) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Return each record's text, the line it starts on and its number of fields; blank and comment lines skipped.

    `data` is `_ascii_bytes(text)`.
    """
    lines = text.split("\n")
    commented = raw.comment is not None and raw.comment in text
    if commented:
        lines = [line.split(raw.comment, 1)[0] for line in lines]
    if '"' in text:  # a quoted field may span lines or hold a separator: the csv module finds the records
        return _quoted_records(lines, raw)
    starts = np.arange(1, len(lines) + 1)
    if not commented and data is not None:
        widths = _fields_per_line(data, raw.separator)
    else:
        widths = np.fromiter(map(str.count, lines, repeat(raw.separator)), dtype=np.int64, count=len(lines)) + 1
    if not all(map(str.strip, lines)):  # C-speed passes: most files have no blank line but the last
        keep = np.fromiter(map(bool, map(str.strip, lines)), dtype=bool, count=len(lines))
        lines, starts, widths = list(compress(lines, keep)), starts[keep], widths[keep]
    return lines, starts, widths


def _fields_per_line(data: np.ndarray, separator: str) -> np.ndarray:
    """Return the number of fields of every line of an ASCII text, counted on its bytes (numpy speed, no line objects)."""
    ends = np.flatnonzero(data == ord("\n"))
    separators = np.flatnonzero(data == ord(separator))
    before = np.searchsorted(separators, np.r_[0, ends + 1, data.size])  # separators before each line's start, and the end
    return np.diff(before) + 1


def _quoted_records(lines: list[str], raw: RawSource) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Return the records of a file with quoted fields as `split_records` does, read by the csv module."""
    texts, starts, widths = [], [], []
    reader = csv.reader(iter(lines), delimiter=raw.separator, skipinitialspace=True)
    start = 1
    for fields in reader:
        record = "\n".join(lines[start - 1:reader.line_num])
        if record.strip():
            texts.append(record)
            starts.append(start)
            widths.append(len(fields))
        start = reader.line_num + 1
    return texts, np.array(starts, dtype=np.int64), np.array(widths, dtype=np.int64)


def fields_of(record: str, raw: RawSource) -> list[str]:
    """Return one record's fields as the file's parser reads them."""
    return next(csv.reader([record], delimiter=raw.separator, skipinitialspace=True), [])


def _usual_width(widths: np.ndarray, declared: int) -> int:
    """Return the commonest number of fields per record; on a tie (or with no record), the declared one, else the largest."""
    if not len(widths):
        return declared
    found, counts = np.unique(widths, return_counts=True)
    tied = found[counts == counts.max()].tolist()
    return declared if declared in tied else max(tied)


def _record_names(header: list[str] | None, width: int, spec: ProblemSpec) -> list[str]:
    """Return the snake_case names of a file's columns: its header's, the declared ones (with or without the label),
    or `field_1`... when the width fits neither (the caller's `standardise` then names the rule)."""
    if header is not None:
        return [snake_case(h) for h in header]
    try:
        return column_names(pd.DataFrame(columns=range(width)), spec, "", label_optional=True)
    except DataValidationError:
        return [f"field_{i + 1}" for i in range(width)]


def _control_pattern(allowed: str) -> re.Pattern[str]:
    """Return the pattern of the control characters but `allowed` ones (a tab separator, line ends between records)."""
    return re.compile(f"[{re.escape(''.join(c for c in CONTROL_CHARACTERS if c not in allowed))}]")


def _holds_control_characters(text: str, data: np.ndarray | None, allowed: str) -> bool:
    """Return whether `text` holds a control character but `allowed` ones; an ASCII text is counted on its bytes (fast)."""
    if data is None:
        return _control_pattern(allowed).search(text) is not None
    found = np.count_nonzero(data < 0x20) + np.count_nonzero(data == 0x7F)
    return bool(found - sum(np.count_nonzero(data == ord(c)) for c in set(allowed) if ord(c) < 0x20))


def _with_control_characters(text: str, data: np.ndarray | None, texts: list[str], separator: str) -> list[int]:
    """Return the positions of the records holding a control character (one scan of the text finds most files clean)."""
    if '"' not in text and not _holds_control_characters(text, data, separator + "\n"):  # records then never span lines
        return []
    inside = _control_pattern(separator)  # a line end inside a record is a quoted field's
    return [i for i, record in enumerate(texts) if inside.search(record)]


def _record_problem(record: str, width: int, expected: int, names: list[str], raw: RawSource) -> tuple[list[str | None], str]:
    """Return a malformed record's fields (padded or cut to the file's width, control characters escaped) and why it is malformed."""
    fields = fields_of(record, raw)
    plural = "" if width == 1 else "s"
    problems = [] if width == expected else [f"{width} field{plural} where {expected} are expected (rule: one field per column)"]
    for name, value in zip(names, fields, strict=False):
        problem = control_character_problem(value)
        if problem:
            problems.append(f"{name}: {problem}")
            break
    shown: list[str | None] = [_CONTROL.sub(lambda c: repr(c.group())[1:-1], value) for value in fields[:expected]]
    return shown + [None] * (expected - len(shown)), "; ".join(problems) or control_character_problem(record)


def read_records(content: bytes, file: str, spec: ProblemSpec) -> RawTable:
    """Return every record of a raw file read with the problem's one declared format (`problem.raw`), malformed ones with their problem."""
    raw = spec.raw
    text = decode_text(content, file, raw)
    data = _ascii_bytes(text)
    texts, lines, widths = split_records(text, data, raw)
    if not texts:
        raise DataValidationError(f"{file}: the file is empty (rule: non-empty)")
    header = None
    if raw.column_names is None:
        header, texts, lines, widths = fields_of(texts[0], raw), texts[1:], lines[1:], widths[1:]
    expected = len(header) if header is not None else _usual_width(widths, len(raw.column_names))
    names = _record_names(header, expected, spec)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataValidationError(f"{file}: column name(s) {repeated} appear more than once in the header (rule: one column per name)")
    good = widths == expected
    good[_with_control_characters(text, data, texts, raw.separator)] = False
    malformed = np.flatnonzero(~good).tolist()
    frame = _parse_records(texts if good.all() else list(compress(texts, good)), names, raw, file).set_axis(np.flatnonzero(good))
    problems = pd.Series("", index=range(len(texts)), dtype="str")
    if malformed:
        parsed = [_record_problem(texts[i], widths[i], expected, names, raw) for i in malformed]
        bad = pd.DataFrame([fields for fields, _ in parsed], columns=names, index=malformed, dtype="str")
        frame = pd.concat([frame, bad]).sort_index()
        problems[malformed] = [problem for _, problem in parsed]
    return RawTable(frame=frame, lines=pd.Series(lines, dtype="int64"), problems=problems)


def _parse_records(texts: list[str], names: list[str], raw: RawSource, file: str) -> pd.DataFrame:
    """Return well-formed records (all of one width) as text columns: empty fields '', nothing treated as missing yet."""
    if not texts:
        return pd.DataFrame({n: pd.Series(dtype="str") for n in names})
    try:
        return pd.read_csv(io.StringIO("\n".join(texts)), sep=raw.separator, header=None, names=names, dtype=str,
                           keep_default_na=False, skipinitialspace=True, quotechar='"')
    except pd.errors.ParserError as error:  # quoting the csv module reads one way and pandas another
        raise DataValidationError(f"{file}: records {raw.separator!r}-separated with quotes pandas cannot read: {error}") from None


def read_raw_table(content: bytes, file: str, spec: ProblemSpec) -> pd.DataFrame:
    """Return a raw file's rows as text columns, read with the problem's one declared format; raise naming every malformed record's line."""
    table = read_records(content, file, spec)
    raise_if_any(table.problems, pd.Series(file, index=table.problems.index), "every record well-formed", table.lines)
    return table.frame


def standardise(raw: pd.DataFrame, spec: ProblemSpec, file: str, label_optional: bool = False,
                columns: list[str] | None = None) -> pd.DataFrame:
    """Return `raw` with declared names in snake_case, stripped text and missing markers as NA.

    With `label_optional` (new rows to score), a header-less file may also omit the label column.
    With `columns`, only those are kept (and cleaned); one that is absent fails naming the file.
    """
    if raw.empty:
        raise DataValidationError(f"{file}: the file has no data rows (rule: non-empty)")
    frame = raw.set_axis(column_names(raw, spec, file, label_optional), axis=1)
    if columns is not None:
        require_columns(frame, columns, file)
        frame = frame[columns]
    frame = clean_text(frame, spec)
    frame[SOURCE_COLUMN] = file
    return frame


def column_names(raw: pd.DataFrame, spec: ProblemSpec, file: str, label_optional: bool = False) -> list[str]:
    """Return the snake_case names of `raw`'s columns: the declared ones for a header-less file, else its header's."""
    names = spec.raw.column_names
    if names is not None:
        unlabelled = [n for n in names if snake_case(n) != spec.target_column]
        if label_optional and raw.shape[1] == len(unlabelled):
            names = unlabelled
        elif len(names) != raw.shape[1]:
            without_label = f", or {len(unlabelled)} without the label column" if label_optional else ""
            raise DataValidationError(
                f"{file}: expected {len(names)} columns (problem.raw.column_names){without_label}, found {raw.shape[1]}"
            )
    return [snake_case(str(c)) for c in (raw.columns if names is None else names)]


def clean_text(frame: pd.DataFrame, spec: ProblemSpec) -> pd.DataFrame:
    """Return `frame` with every text column stripped and the declared missing markers as NA."""
    cleaned = frame.copy()
    for column in [c for c in cleaned.columns if not pd.api.types.is_numeric_dtype(cleaned[c])]:
        stripped = cleaned[column].astype("string").str.strip()
        markers = stripped.isin(spec.raw.missing_markers)
        cleaned[column] = stripped.mask(markers) if markers.any() else stripped
    return cleaned


def require_columns(frame: pd.DataFrame, columns: list[str], file: str) -> None:
    """Raise naming the file and every required column that is absent."""
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise DataValidationError(
            f"{file}: required column(s) {absent} missing (rule: columns declared in problem spec); "
            f"found {[c for c in frame.columns if c != SOURCE_COLUMN]}"
        )


def label_problems(labels: pd.Series, spec: ProblemSpec) -> pd.Series:
    """Return, per row, why its raw label is not usable ('' when it is)."""
    known = {spec.target.normalise(spec.target.positive_label), spec.target.normalise(spec.target.negative_label)}
    normalised = labels.astype("string").map(spec.target.normalise, na_action="ignore")
    unknown = normalised.notna() & ~normalised.isin(known)
    problems = pd.Series("", index=labels.index, dtype="string")
    problems[unknown] = (
        f"{spec.target_column}: '" + labels[unknown].astype("string").map(excerpt) + f"' is not one of {sorted(known)}"
    )
    return problems


def encode_labels(labels: pd.Series, spec: ProblemSpec) -> pd.Series:
    """Map raw labels to 1 (positive), 0 (negative) or NA (missing)."""
    positive = spec.target.normalise(spec.target.positive_label)
    normalised = labels.astype("string").map(spec.target.normalise, na_action="ignore")
    return (normalised == positive).astype("Int8").where(normalised.notna())


def to_numbers(values: pd.Series) -> pd.Series:
    """Return values as float64, NaN where one is not a number (what `pd.to_numeric(errors="coerce")` does).

    Casting through pandas' nullable `Float64` parses a text column in one vectorised pass of
    Arrow's parser (about ten times faster than a direct float64 cast, which parses value by
    value) and rounds like Python's `float()`, i.e. like the service's JSON parser; only a column
    that holds some non-number falls back to `pd.to_numeric` to find which values those are.
    """
    try:
        return _as_float64(values)
    except (ValueError, TypeError):
        coerced = pd.to_numeric(values, errors="coerce")
        try:
            return _as_float64(values.where(coerced.notna()))
        except (ValueError, TypeError):
            return coerced.astype("float64")


def _as_float64(values: pd.Series) -> pd.Series:
    """Return `values` cast to float64 with missing entries as NaN; raise if one is not a number."""
    numbers = values.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    return pd.Series(numbers, index=values.index, name=values.name)


def numeric_problems(frame: pd.DataFrame, spec: ProblemSpec, typed: pd.DataFrame | None = None) -> pd.Series:
    """Return, per row, which numeric features hold text that is not a finite number.

    `typed`, when given, is `cast_features(frame, spec)`: passing it saves parsing the numbers twice.
    """
    problems = pd.Series("", index=frame.index, dtype="string")
    for column in spec.numeric_features:
        values = frame[column]
        parsed = to_numbers(values) if typed is None else typed[column]
        bad = values.notna().to_numpy() & ~np.isfinite(parsed.to_numpy())  # text that is no number, or infinite
        if bad.any():
            prefix = problems[bad].where(problems[bad] == "", problems[bad] + "; ")
            problems[bad] = prefix + f"{column}: '" + values[bad].astype("string").map(excerpt) + "' is not a number"
    return problems


def cast_features(frame: pd.DataFrame, spec: ProblemSpec) -> pd.DataFrame:
    """Return the feature columns typed: numeric as float64, categorical as str (NA kept)."""
    typed = pd.DataFrame(index=frame.index)
    for column in spec.numeric_features:
        typed[column] = to_numbers(frame[column])
    for column in spec.categorical_features:
        values = frame[column]
        # a string dtype keeps missing entries missing; only from `object` would None become "None"
        text = values.astype("str")
        typed[column] = text if isinstance(values.dtype, pd.StringDtype) else text.where(values.notna())
    return typed


def limit_problems(typed: pd.DataFrame, spec: ProblemSpec, limits: InputLimits) -> pd.Series:
    """Return, per row, which values break the input limits the service applies: bounds (declared, else the bundle's
    magnitude limits) and the longest categorical text."""
    problems = pd.Series("", index=typed.index, dtype="str")

    def add(mask: pd.Series, message: pd.Series | str) -> None:
        if mask.any():
            problems[mask] = problems[mask].where(problems[mask] == "", problems[mask] + "; ") + message

    for column, bounds in limits.accepted_bounds().items():
        values = typed[column].where(np.isfinite(typed[column]))  # a non-finite value is reported as no number
        if bounds.min is not None:
            low = values < bounds.min
            add(low, f"{column}: " + values[low].astype("str") + f" is below the minimum {bounds.min:g}")
        if bounds.max is not None:
            high = values > bounds.max
            add(high, f"{column}: " + values[high].astype("str") + f" is above the maximum {bounds.max:g}")
    for column in spec.categorical_features:
        long = typed[column].str.len() > limits.max_text_length
        add(long.fillna(False), f"{column}: text longer than {limits.max_text_length} characters")
    return problems


def unless_malformed(problems: pd.Series, record_problems: pd.Series) -> pd.Series:
    """Return per-value problems without those of malformed records: their fields are not where the columns say."""
    return problems.where(record_problems == "", "")


def joined_problems(*problems: pd.Series) -> pd.Series:
    """Return, per row, the non-empty problems of several checks joined with '; ' ('' when none)."""
    joined = pd.Series("", index=problems[0].index, dtype="str")
    for check in problems:
        more = check.astype("str")
        joined = joined.where(more == "", joined.where(joined == "", joined + "; ") + more)
    return joined


def row_problems(standardised: pd.DataFrame, typed: pd.DataFrame, spec: ProblemSpec, limits: InputLimits) -> pd.Series:
    """Return, per raw row, why it cannot be scored ('' when it can): text in numbers, values beyond the input limits.

    `typed` is `cast_features(standardised, spec)`, passed in so a batch is cast once. The same limits
    make the service answer 422 (`serving.schema.row_model`) and training fail or remove the row.
    """
    return joined_problems(numeric_problems(standardised, spec, typed), limit_problems(typed, spec, limits))


def rule_breaks(problems: pd.Series, file_of_row: pd.Series, rule: str, lines: pd.Series | None = None) -> list[str]:
    """Return one message per file summarising the non-empty problems with examples (and their lines, when given)."""
    failing = problems[problems != ""]
    if lines is not None:
        failing = "line " + lines[failing.index].astype("str") + ": " + failing
    return [f"{file}: {len(examples)} row(s) break rule '{rule}', e.g. {'; '.join(examples.head(3).tolist())}"
            for file, examples in failing.groupby(file_of_row[failing.index], sort=True)]


def raise_if_any(problems: pd.Series, file_of_row: pd.Series, rule: str, lines: pd.Series | None = None) -> None:
    """Raise a DataValidationError summarising the non-empty problems, by file, with examples (and their lines, when given)."""
    messages = rule_breaks(problems, file_of_row, rule, lines)
    if messages:
        raise DataValidationError("\n".join(messages))


def add_slice_columns(features: pd.DataFrame, spec: ProblemSpec) -> pd.DataFrame:
    """Return the declared banded slice columns (e.g. age_band) computed from the features."""
    bands = pd.DataFrame(index=features.index)
    for name, rule in spec.banded_columns.items():
        cut = pd.cut(features[rule.source_column], bins=rule.edges, labels=rule.labels, right=False)
        bands[name] = cut.astype("str").where(cut.notna(), "out of range")
    return bands


def learn_missing_value_fills(train: pd.DataFrame, spec: ProblemSpec) -> dict[str, object]:
    """Return the value each feature's missing entries become, learned from `train` only."""
    fills: dict[str, object] = {}
    for column in spec.features:
        policy = spec.missing_policy(column)
        values = train[column].dropna()
        if policy == "category":
            fills[column] = spec.missing_category
        elif policy == "most_frequent":
            fills[column] = str(values.mode().sort_values().iloc[0]) if len(values) else spec.missing_category
        elif policy == "mean":
            fills[column] = float(values.mean()) if len(values) else 0.0
        else:
            fills[column] = float(values.median()) if len(values) else 0.0
    return fills


def apply_missing_value_fills(features: pd.DataFrame, fills: dict[str, object], spec: ProblemSpec) -> pd.DataFrame:
    """Return model rows: missing entries filled as declared, flag columns added where asked."""
    filled = features[spec.features].copy()
    for column in spec.numeric_features:
        if spec.missing_policy(column) == "flag_and_median":
            filled[f"{column}_missing"] = features[column].isna().astype("int8")
    for column, value in fills.items():
        if filled[column].hasnans:
            filled[column] = filled[column].fillna(value)
    return filled[spec.model_columns()]
