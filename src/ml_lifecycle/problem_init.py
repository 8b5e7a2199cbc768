"""`kedro problem init`: read a person's CSV, propose a problem spec, write `conf/<name>/` for review.

Every decision is returned with its reason, printed by the command and written as a comment
beside the key it set, so the person reviewing `conf/<name>/parameters.yml` sees why each
column is numeric, categorical, dropped, protected or the target.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ml_lifecycle.pages import render
from ml_lifecycle.spec import snake_case

SAMPLE_BYTES = 1_000_000
SEPARATORS = ",;\t|"
COMMENT_MARKERS = "#|"
MISSING_CANDIDATES = ["", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "-", "missing"]
TARGET_NAMES = ("target", "label", "class", "outcome", "y", "default", "churn", "churned", "response")
PROTECTED_NAME = re.compile(
    r"sex|gender|race|ethnic|age|nationality|national|country|citizen|religio|marital|disab|pregnan",
)
ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key|index)$|^row_?num")
FEW_CODES = 10  # a numeric column with at most this many distinct values may be a code, not a quantity
MAX_SLICE_VALUES = 12  # a categorical column with more values makes slices too small to read
AGE_EDGES = [0, 25, 35, 45, 55, 65, 200]
AGE_LABELS = ["<25", "25-34", "35-44", "45-54", "55-64", "65+"]


class ProblemInitError(ValueError):
    """The data or the options cannot make a problem; the message names the file, column or value."""


@dataclass(frozen=True)
class RawFormat:
    """How the raw file is written, as problem.raw declares it."""

    encoding: str
    separator: str
    header: bool
    comment: str | None
    missing_markers: list[str]
    column_names: list[str] | None


@dataclass
class Decision:
    """One thing init decided, and why."""

    subject: str
    choice: str
    reason: str


@dataclass
class Proposal:
    """The proposed problem: format, target, features, drops, protected attributes and slices."""

    name: str
    raw_folder: str
    train_file: str
    test_file: str | None
    raw_format: RawFormat
    target_column: str
    positive_label: str
    negative_label: str
    strip_characters: str
    case_sensitive: bool
    numeric_features: list[str]
    categorical_features: list[str]
    dropped_columns: dict[str, str]
    protected_attributes: list[str]
    banded_columns: dict[str, dict]
    slices: list[str]
    rows: int
    decisions: list[Decision] = field(default_factory=list)


def detect_encoding(sample: bytes) -> str:
    """Return the file's text encoding: UTF-8 (with or without BOM), else Latin-1 when UTF-8 fails."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(sample) - 4:  # not just a multi-byte character cut by the sample's end
            return "latin-1"
    return "utf-8"


def detect_format(path: Path) -> tuple[RawFormat, list[Decision]]:
    """Return the file's format (encoding, separator, header, comment marker, missing markers), with reasons."""
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if not sample.strip():
        raise ProblemInitError(f"{path}: the file is empty")
    encoding = detect_encoding(sample)
    text = sample.decode(encoding, errors="replace")
    lines = [line for line in text.splitlines() if line.strip()][:200]
    comment = next((m for m in COMMENT_MARKERS if lines and any(line.startswith(m) for line in lines[:5])
                    and not all(line.startswith(m) for line in lines)), None)
    data_lines = [line for line in lines if comment is None or not line.startswith(comment)]
    separator = _separator(data_lines, path)
    table = pd.read_csv(io.StringIO("\n".join(data_lines[:200])), sep=separator, header=None, dtype=str,
                        keep_default_na=False, skipinitialspace=True)
    header = _has_header(table)
    values = table.iloc[1:] if header else table
    markers = _missing_markers(values)
    decisions = [
        Decision("encoding", encoding, "the first MB decodes as UTF-8" if encoding.startswith("utf-8")
                 else "the bytes are not valid UTF-8; Latin-1 reads any byte"),
        Decision("separator", repr(separator), f"splits every sampled line into {table.shape[1]} fields"),
        Decision("header", str(header).lower(), "the first row is text where the columns below hold numbers or "
                 "repeat no value of it" if header else "the first row looks like data: names are generated"),
        Decision("missing markers", repr(markers), "values found standing for 'no value' (empty, '?', 'NA'...)"),
    ]
    if comment is not None:
        decisions.append(Decision("comment marker", repr(comment), f"lines starting with {comment!r} are not rows"))
    names = None if header else [f"column_{i + 1}" for i in range(table.shape[1])]
    return RawFormat(encoding, separator, header, comment, markers, names), decisions


def _separator(lines: list[str], path: Path) -> str:
    """Return the separator that splits the sampled lines into the same number (> 1) of fields."""
    try:
        return csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=SEPARATORS).delimiter
    except csv.Error:
        counts = {s: {line.count(s) for line in lines[:50]} for s in SEPARATORS}
        steady = [s for s, found in counts.items() if len(found) == 1 and min(found) > 0]
        if not steady:
            raise ProblemInitError(f"{path}: no separator among {list(SEPARATORS)} splits the lines evenly") from None
        return max(steady, key=lambda s: min(counts[s]))


def _is_number(values: pd.Series) -> pd.Series:
    """Return, per value, whether it parses as a number."""
    return pd.to_numeric(values.str.strip(), errors="coerce").notna()


def _has_header(table: pd.DataFrame) -> bool:
    """Return whether the first row names the columns rather than holding data."""
    first, rest = table.iloc[0], table.iloc[1:]
    if rest.empty or first.duplicated().any() or (first.str.strip() == "").any():
        return False
    for column in table.columns:
        numbers_below = _is_number(rest[column]).mean() > 0.9
        if numbers_below and not _is_number(first.loc[[column]]).iloc[0]:
            return True
    # all text: a header when none of its values appears again in its column
    return not any(first[c] in set(rest[c]) for c in table.columns) and not _is_number(first).any()


def _missing_markers(values: pd.DataFrame) -> list[str]:
    """Return the candidate markers that occur in the values ('' always: an empty field is missing)."""
    stripped = values.apply(lambda column: column.str.strip())
    found = {marker for marker in MISSING_CANDIDATES if marker and (stripped == marker).any().any()}
    return ["", *sorted(found)]


def read_table(path: Path, raw: RawFormat) -> pd.DataFrame:
    """Return the whole file as text columns named in snake_case, missing markers as NA."""
    try:
        table = pd.read_csv(path, sep=raw.separator, header=0 if raw.header else None, names=raw.column_names,
                            dtype=str, keep_default_na=False, skipinitialspace=True, comment=raw.comment,
                            encoding=raw.encoding)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ProblemInitError(f"{path}: cannot be read with the detected format ({error})") from None
    table.columns = [snake_case(str(c)) for c in table.columns]
    duplicated = table.columns[table.columns.duplicated()].tolist()
    if duplicated:
        raise ProblemInitError(f"{path}: columns {duplicated} are the same name in snake_case")
    return table.apply(lambda column: column.str.strip()).mask(lambda frame: frame.isin(raw.missing_markers))


def choose_target(table: pd.DataFrame, target: str | None, path: Path) -> tuple[str, Decision]:
    """Return the target column: the one asked for, else a two-valued column with a target-like name, else the last."""
    binary = [c for c in table.columns if table[c].dropna().nunique() == 2]
    if target is not None:
        column = snake_case(target)
        if column not in table.columns:
            raise ProblemInitError(f"{path}: no column {target!r}; two-valued columns that could be the target: "
                                   f"{binary}; all columns: {list(table.columns)}")
        return column, Decision("target", column, "asked for with --target")
    if not binary:
        raise ProblemInitError(f"{path}: no column has exactly two values, so none can be a binary target; "
                               f"columns: {list(table.columns)}")
    named = [c for c in binary if c in TARGET_NAMES]
    column = named[0] if named else binary[-1]
    why = "its name says it is the outcome" if named else "the last column with exactly two values"
    return column, Decision("target", column, f"{why}; other two-valued columns: {[c for c in binary if c != column]}")


def label_rule(labels: pd.Series) -> tuple[str, bool]:
    """Return the characters to strip and whether labels are case-sensitive, so the labels fall into two classes."""
    values = labels.dropna()
    for strip, case_sensitive in (("", True), ("", False), (".", True), (".", False)):
        normalised = values.str.strip(strip) if strip else values
        if not case_sensitive:
            normalised = normalised.str.lower()
        if normalised.nunique() == 2:
            return strip, case_sensitive
    return "", True


def choose_labels(labels: pd.Series, positive: str | None, column: str, path: Path) -> tuple[str, str, str, bool, Decision]:
    """Return positive and negative label, strip characters and case rule: the asked-for positive, else the minority."""
    strip, case_sensitive = label_rule(labels)

    def normalise(value: str) -> str:
        cleaned = value.strip(strip) if strip else value
        return cleaned if case_sensitive else cleaned.lower()

    counts = labels.dropna().map(normalise).value_counts()
    if len(counts) != 2:
        raise ProblemInitError(f"{path}: column {column!r} has {len(counts)} distinct labels {list(counts.index[:10])}; "
                               "a binary problem needs exactly two")
    if positive is not None:
        if normalise(positive) not in counts.index:
            raise ProblemInitError(f"{path}: label {positive!r} is not in column {column!r}; its labels are "
                                   f"{list(counts.index)}")
        chosen = normalise(positive)
        why = "asked for with --positive-label"
    else:
        chosen = counts.idxmin()
        why = f"the minority class ({counts[chosen]:,} of {counts.sum():,} rows)"
    other = next(label for label in counts.index if label != chosen)
    return chosen, other, strip, case_sensitive, Decision("positive label", repr(chosen), why)


def classify_columns(table: pd.DataFrame, target: str) -> tuple[list[str], list[str], dict[str, str], list[Decision]]:
    """Return numeric features, categorical features and dropped columns (with reasons)."""
    numeric, categorical, dropped, decisions = [], [], {}, []
    for column in table.columns:
        if column == target:
            continue
        values = table[column].dropna()
        distinct = values.nunique()
        numbers = _is_number(values).mean() if len(values) else 0.0
        if distinct <= 1:
            dropped[column] = "constant: one value in every row, nothing to learn from"
        elif distinct == len(values) and (ID_NAME.search(column) or numbers < 0.9 or _is_sequence(values)):
            dropped[column] = "a row identifier: a different value in every row"
        elif numbers >= 0.99:
            numeric.append(column)
            if distinct <= FEW_CODES:
                decisions.append(Decision(column, "numeric", f"only {distinct} distinct numbers: kept as a quantity; "
                                          "move it to categorical_features if the numbers are codes without order"))
        else:
            categorical.append(column)
            if numbers >= 0.5:
                decisions.append(Decision(column, "categorical", f"{numbers:.0%} of values are numbers, the rest "
                                          "text: read as categories; fix the text values to use it as a number"))
            if distinct > 0.5 * len(values):
                decisions.append(Decision(column, "categorical", f"{distinct:,} distinct values in {len(values):,} "
                                          "rows: close to an identifier; drop it if it names rows rather than kinds"))
    for column, why in dropped.items():
        decisions.append(Decision(column, "dropped", why))
    return numeric, categorical, dropped, decisions


def _is_sequence(values: pd.Series) -> bool:
    """Return whether integer values step by one (a row counter)."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any() or (numbers % 1 != 0).any():
        return False
    ordered = numbers.sort_values().to_numpy()
    return bool((ordered[1:] - ordered[:-1] == 1).all())


def protected_candidates(table: pd.DataFrame, numeric: list[str], categorical: list[str]) -> tuple[list[str], dict[str, dict], list[Decision]]:
    """Return protected-attribute candidates by name, and an age band for a numeric age column."""
    protected, bands, decisions = [], {}, []
    for column in categorical:
        if PROTECTED_NAME.search(column):
            protected.append(column)
            decisions.append(Decision(column, "protected attribute", "its name suggests a protected trait: "
                                      "fairness gaps and invariance tests cover it; remove it if it is not one"))
    for column in numeric:
        if re.search(r"(^|_)age($|_)", column):
            band = f"{column}_band"
            bands[band] = {"source_column": column, "edges": AGE_EDGES, "labels": AGE_LABELS}
            protected.append(band)
            decisions.append(Decision(band, "protected attribute", f"age bands of {column!r}: fairness gaps by age group"))
    return protected, bands, decisions


def slice_columns(table: pd.DataFrame, categorical: list[str], protected: list[str]) -> list[str]:
    """Return categorical columns with few enough values to read per-slice metrics (the protected ones first)."""
    small = [c for c in categorical if table[c].nunique() <= MAX_SLICE_VALUES and c not in protected]
    return protected + small[:4]


def propose(name: str, data: Path, target: str | None, positive_label: str | None, test_data: Path | None,
            raw_folder: str) -> Proposal:
    """Return the proposed problem for the file(s), every decision with its reason."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name) or name in ("base", "local", "test"):
        raise ProblemInitError(f"problem name {name!r}: use letters, digits, '_' or '-', and not base, local or test")
    raw, decisions = detect_format(data)
    table = read_table(data, raw)
    column, decision = choose_target(table, target, data)
    decisions.append(decision)
    labels = table[column]
    if test_data is not None:
        test_raw, _ = detect_format(test_data)
        if test_raw.separator != raw.separator or test_raw.header != raw.header:
            raise ProblemInitError(f"{test_data}: written differently from {data} (separator or header); "
                                   "problem.raw declares one format for both")
        test_table = read_table(test_data, raw)
        if column not in test_table.columns:
            raise ProblemInitError(f"{test_data}: no target column {column!r}; columns: {list(test_table.columns)}")
        labels = pd.concat([labels, test_table[column]])
    positive, negative, strip, case_sensitive, decision = choose_labels(labels, positive_label, column, data)
    decisions.append(decision)
    if strip or not case_sensitive:
        decisions.append(Decision("label rule", f"strip {strip!r}, case-sensitive {case_sensitive}",
                                  "the raw labels differ only in these characters or in case"))
    numeric, categorical, dropped, more = classify_columns(table, column)
    if not numeric and not categorical:
        raise ProblemInitError(f"{data}: no column is left as a feature; dropped: {dropped}")
    protected, bands, found = protected_candidates(table, numeric, categorical)
    return Proposal(
        name=name, raw_folder=raw_folder, train_file=data.name, test_file=test_data.name if test_data else None,
        raw_format=raw, target_column=column, positive_label=positive, negative_label=negative,
        strip_characters=strip, case_sensitive=case_sensitive, numeric_features=numeric,
        categorical_features=categorical, dropped_columns=dropped, protected_attributes=protected,
        banded_columns=bands, slices=slice_columns(table, categorical, protected), rows=len(table),
        decisions=decisions + more + found,
    )


def init_problem(project: Path, name: str, data: Path, target: str | None = None, positive_label: str | None = None,
                 test_data: Path | None = None, overwrite: bool = False) -> tuple[Proposal, Path]:
    """Write `conf/<name>/` for the data (raw files copied to `data/01_raw/<name>/` when elsewhere); return what was decided."""
    env = project / "conf" / name
    if env.exists() and not overwrite:
        raise ProblemInitError(f"{env.relative_to(project)} exists: review it, or pass --overwrite to replace it")
    files = [p for p in (data, test_data) if p is not None]
    for path in files:
        if not path.is_file():
            raise ProblemInitError(f"{path}: no such file")
    raw_folder = project / "data" / "01_raw" / name
    proposal = propose(name, data, target, positive_label, test_data, raw_folder.relative_to(project).as_posix())
    raw_folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        if path.resolve() != (raw_folder / path.name).resolve():
            shutil.copyfile(path, raw_folder / path.name)
    env.mkdir(parents=True, exist_ok=True)
    inference_file = proposal.test_file or proposal.train_file
    (env / "globals.yml").write_text(render("problem_globals.yml.j2", p=proposal, inference_file=inference_file))
    (env / "parameters.yml").write_text(render("problem_parameters.yml.j2", p=proposal))
    return proposal, env
