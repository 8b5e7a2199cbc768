"""Data preparation: raw files -> validated rows -> quality report -> model-input splits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import pandas as pd
from pydantic import Field
from sklearn.model_selection import train_test_split

from ml_lifecycle import rows
from ml_lifecycle.bundle import InputLimits
from ml_lifecycle.spec import ProblemSpec, StrictModel

RECORDS, NUMBERS, LIMITS, LABELS = ("every record well-formed", "numeric features hold numbers",
                                    "values within the input limits (deployment)", "label is a declared label")
REMOVED_COLUMNS = [rows.SOURCE_COLUMN, rows.LINE_COLUMN, "rule", "reason"]
RECORD_HASH = "record_hash"  # of a record's every raw column but the label: equal hashes and labels, exact duplicates
REMOVED_EXAMPLES = 20  # removed rows the quality report lists with their file, line and reason


class QualityChecks(StrictModel):
    """Limits of the report's label consistency, label error, slice coverage and split mismatch checks
    (key `data_processing.quality`; docs/data_card.md, *Label consistency and coverage*)."""

    folds: int = Field(default=5, ge=2, description="Stratified folds of the quick models' out-of-fold probabilities.")
    threads: int = Field(default=1, ge=1, description="OpenMP threads of each quick model fit.")
    conflict_examples: int = Field(default=5, ge=0, description="Largest groups of identical feature rows with both labels listed per split.")
    label_issue_examples: int = Field(default=20, ge=0, description="Likely label errors listed, least probable given label first.")
    min_slice_rows: int = Field(default=100, ge=1, description="A slice value with fewer rows in a split is flagged.")
    min_slice_positives: int = Field(default=25, ge=0, description="A slice value with fewer positive rows in a split is flagged.")
    adversarial_standard_errors: float = Field(
        default=3.0, gt=0, description="Train/test ROC AUC limit: 0.5 plus this many standard errors of the AUC under no difference...")
    adversarial_min_margin: float = Field(default=0.02, ge=0, lt=0.5, description="...but at least 0.5 plus this margin.")


class RowRules(StrictModel):
    """What training does with rows breaking a row rule and with evaluation rows repeating a training row, and the quality
    checks' limits (`parameters_data_processing.yml`, key `data_processing`; docs/bring_your_own_data.md, *Row rules*)."""

    bad_rows: Literal["fail", "remove"] = Field(
        default="fail", description="fail: the run stops naming file, line and column; remove: counted by rule in the quality report.")
    evaluation_duplicates: Literal["remove", "keep"] = Field(
        default="remove", description="Validation / test rows repeating a training record exactly: removed (counted) or kept (still counted).")
    quality: QualityChecks = Field(default_factory=QualityChecks)


def standardise_raw_rows(raw_files: dict[str, Callable[[], bytes]], spec: ProblemSpec) -> pd.DataFrame:
    """Return every declared raw file's records, standardised and tagged with their file, line and any record-level problem."""
    declared = [f for f in (spec.raw.train_file, spec.raw.test_file) if f is not None]
    frames = []
    for file in declared:
        path = f"{spec.raw.folder}/{file}"
        if file not in raw_files:
            raise rows.DataValidationError(
                f"{path}: file not found (problem.raw); files present: {sorted(raw_files)}"
            )
        table = rows.read_records(raw_files[file](), path, spec)
        frame = rows.standardise(table.frame, spec, path)
        # per file: once files are concatenated, a column one file lacks looks merely missing
        rows.require_columns(frame, [*spec.features, spec.target_column], path)
        frame[RECORD_HASH] = _record_hashes(frame, spec)
        frame[rows.LINE_COLUMN] = table.lines
        frame[rows.RECORD_PROBLEM_COLUMN] = table.problems
        if spec.raw.sample_rows is not None and len(frame) > spec.raw.sample_rows:
            frame = frame.sample(n=spec.raw.sample_rows, random_state=spec.seed).sort_index()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _record_hashes(frame: pd.DataFrame, spec: ProblemSpec) -> pd.Series:
    """Return a hash per record of every raw column (dropped ones included) but the label and the file name."""
    return pd.util.hash_pandas_object(frame.drop(columns=[spec.target_column, rows.SOURCE_COLUMN]), index=False)


def _rule_problems(standardised: pd.DataFrame, typed: pd.DataFrame, spec: ProblemSpec, limits: InputLimits) -> pd.DataFrame:
    """Return, per row and rule, why the row breaks it ('' when it does not): the rules batch inference and the service apply, and the label's."""
    malformed = standardised[rows.RECORD_PROBLEM_COLUMN]
    values = {NUMBERS: rows.numeric_problems(standardised, spec, typed), LIMITS: rows.limit_problems(typed, spec, limits),
              LABELS: rows.label_problems(standardised[spec.target_column], spec)}
    return pd.DataFrame({RECORDS: malformed} | {rule: rows.unless_malformed(p, malformed) for rule, p in values.items()})


def _removed_rows(problems: pd.DataFrame, standardised: pd.DataFrame) -> pd.DataFrame:
    """Return one row per row breaking a rule: its file, line, first broken rule (the one it is counted under) and every reason."""
    broken = problems[(problems != "").any(axis=1)]
    return pd.DataFrame({
        rows.SOURCE_COLUMN: standardised.loc[broken.index, rows.SOURCE_COLUMN],
        rows.LINE_COLUMN: standardised.loc[broken.index, rows.LINE_COLUMN],
        "rule": (broken != "").idxmax(axis=1) if len(broken) else pd.Series(dtype="str"),
        "reason": rows.joined_problems(*(broken[rule] for rule in broken.columns)),
    }, columns=REMOVED_COLUMNS).reset_index(drop=True)


def validate_rows(standardised_rows: pd.DataFrame, spec: ProblemSpec, limits: InputLimits,
                  rules: RowRules) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return typed rows (features, 0/1 target, slice columns, file, line) and the rows removed for breaking a rule.

    A row breaking a rule fails the run, naming its file, line and column (`rules.bad_rows: fail`), or is removed.
    """
    files, lines = standardised_rows[rows.SOURCE_COLUMN], standardised_rows[rows.LINE_COLUMN]
    target = spec.target_column
    for file, frame in standardised_rows.groupby(rows.SOURCE_COLUMN, sort=False):
        rows.require_columns(frame.dropna(axis=1, how="all"), [target], file)
        rows.require_columns(frame, spec.features, file)
    typed = rows.cast_features(standardised_rows, spec)
    problems = _rule_problems(standardised_rows, typed, spec, limits)
    if rules.bad_rows == "fail":
        messages = [m for rule in problems for m in rows.rule_breaks(problems[rule], files, rule, lines)]
        if messages:
            raise rows.DataValidationError("\n".join(messages) + "\n(data_processing.bad_rows: remove drops such rows, counted)")
    bad = (problems != "").any(axis=1)
    typed[target] = rows.encode_labels(standardised_rows[target], spec)
    typed = typed.join(rows.add_slice_columns(typed, spec))
    typed[rows.SOURCE_COLUMN], typed[rows.LINE_COLUMN], typed[RECORD_HASH] = files, lines, standardised_rows[RECORD_HASH]
    typed = typed[~bad]
    _require_both_classes(typed, spec)
    return typed, _removed_rows(problems[bad], standardised_rows)


def _require_both_classes(typed: pd.DataFrame, spec: ProblemSpec) -> None:
    """Raise naming the train file and the counts when its labelled rows do not hold both classes."""
    target = spec.target_column
    train_labels = typed.loc[typed[rows.SOURCE_COLUMN] == f"{spec.raw.folder}/{spec.raw.train_file}", target].dropna()
    if set(train_labels.unique()) != {0, 1}:
        found = {
            spec.target.positive_label: int((train_labels == 1).sum()),
            spec.target.negative_label: int((train_labels == 0).sum()),
        }
        raise rows.DataValidationError(
            f"{spec.raw.folder}/{spec.raw.train_file}: column {target!r} must hold both classes "
            f"({spec.target.positive_label!r} and {spec.target.negative_label!r}); found {found} "
            "(rule: both classes present)"
        )


def _row_keys(frame: pd.DataFrame, spec: ProblemSpec) -> pd.Series:
    """Return a key per row of its raw record and label: exact duplicates (every raw column equal), equal keys."""
    return pd.util.hash_pandas_object(frame[[RECORD_HASH, spec.target_column]], index=False)


def _evaluation_duplicates(fit: pd.DataFrame, validation: pd.DataFrame, test: pd.DataFrame,
                           spec: ProblemSpec) -> tuple[pd.Series, pd.Series]:
    """Return which validation rows repeat a training record exactly, and which test rows a training or validation record."""
    train_keys = set(_row_keys(fit, spec))
    in_validation = _row_keys(validation, spec).isin(train_keys)
    in_test = _row_keys(test, spec).isin(train_keys | set(_row_keys(validation, spec)))
    return in_validation, in_test


def _split_policy(labelled_rows: int, spec: ProblemSpec) -> dict[str, Any]:
    """Return which split shares apply to `labelled_rows` labelled rows, and why: the count against `small_data_rows`."""
    small = spec.split.is_small(labelled_rows)
    test_share, validation_share = spec.split.shares(labelled_rows)
    return {
        "policy": "small data: balanced shares" if small else "default shares",
        "reason": f"{labelled_rows:,} labelled rows {'<' if small else '>='} {spec.split.small_data_rows:,} "
                  "(problem.split.small_data_rows)",
        "labelled_rows": labelled_rows,
        "small_data_rows": spec.split.small_data_rows,
        "test_share": None if spec.raw.test_file is not None else test_share,  # None: the test file is the test split
        "validation_share": validation_share,
    }


def split_rows(validated_rows: pd.DataFrame, removed_rows: pd.DataFrame, spec: ProblemSpec,
               rules: RowRules) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Return train, validation and test rows, and the count of rows removed, by reason (with examples) and the split policy."""
    target = spec.target_column
    unlabelled = validated_rows[target].isna()
    kept = validated_rows[~unlabelled]
    removed = {"missing label": int(unlabelled.sum())}
    if rules.bad_rows == "remove":
        counts = removed_rows["rule"].value_counts()
        removed |= {f"breaks rule '{rule}'": int(counts.get(rule, 0)) for rule in (RECORDS, NUMBERS, LIMITS, LABELS)}
    if spec.split.drop_duplicate_rows:
        duplicated = kept.drop(columns=[rows.SOURCE_COLUMN, rows.LINE_COLUMN, RECORD_HASH]).duplicated()
        removed["duplicate row"] = int(duplicated.sum())
        kept = kept[~duplicated]
    policy = _split_policy(len(kept), spec)
    test_file = f"{spec.raw.folder}/{spec.raw.test_file}"
    if spec.raw.test_file is not None:
        in_test = kept[rows.SOURCE_COLUMN] == test_file
        train, test = kept[~in_test], kept[in_test]
    else:
        train, test = train_test_split(
            kept, test_size=policy["test_share"], stratify=kept[target], random_state=spec.seed
        )
    fit, validation = train_test_split(
        train, test_size=policy["validation_share"], stratify=train[target], random_state=spec.seed
    )
    repeated_validation, repeated_test = _evaluation_duplicates(fit, validation, test, spec)
    if rules.evaluation_duplicates == "remove":
        removed |= {"validation row equal to a train row": int(repeated_validation.sum()),
                    "test row equal to a train or validation row": int(repeated_test.sum())}
        validation, test = validation[~repeated_validation.to_numpy()], test[~repeated_test.to_numpy()]
    accounting = {
        "raw_rows": int(len(validated_rows) + len(removed_rows)),
        "removed": removed,
        "removed_examples": removed_rows.head(REMOVED_EXAMPLES).to_dict("records"),
        "evaluation_duplicates": {"validation_rows_equal_to_train": int(repeated_validation.sum()),
                                  "test_rows_equal_to_train_or_validation": int(repeated_test.sum()),
                                  "removed": rules.evaluation_duplicates == "remove"},
        "split_rows": {"train": len(fit), "validation": len(validation), "test": len(test)},
        "split_policy": policy,
    }
    return fit.sort_index(), validation.sort_index(), test.sort_index(), accounting


def learn_missing_value_fills(train_rows: pd.DataFrame, spec: ProblemSpec) -> dict[str, object]:
    """Return the fill value of each feature, learned from the train split only."""
    return rows.learn_missing_value_fills(train_rows, spec)


def prepare_model_rows(split: pd.DataFrame, fills: dict[str, object], spec: ProblemSpec) -> pd.DataFrame:
    """Return a split as models consume it: filled features, target, then slice columns."""
    model_rows = rows.apply_missing_value_fills(split, fills, spec)
    model_rows[spec.target_column] = split[spec.target_column].astype("int8")
    return model_rows.join(split[list(spec.banded_columns)]).reset_index(drop=True)


def keep_unfilled_rows(split: pd.DataFrame, spec: ProblemSpec) -> pd.DataFrame:
    """Return a split's features before filling, its 0/1 target and slice columns: rows any model version prepares itself."""
    reference = split[spec.features + [spec.target_column] + list(spec.banded_columns)].copy()
    reference[spec.target_column] = reference[spec.target_column].astype("int8")
    return reference.reset_index(drop=True)


def _column_quality(values: pd.Series, numeric: bool) -> dict[str, object]:
    """Return missing share, distinct count and, for numbers, range and IQR outlier count."""
    quality: dict[str, object] = {
        "missing_share": round(float(values.isna().mean()), 6) if len(values) else 0.0,
        "distinct": int(values.nunique()),
    }
    present = values.dropna()
    if numeric and len(present):
        q1, q3 = present.quantile([0.25, 0.75])
        spread = 1.5 * (q3 - q1)
        quality |= {
            "min": float(present.min()),
            "max": float(present.max()),
            "iqr_outliers": int(((present < q1 - spread) | (present > q3 + spread)).sum()),
        }
    return quality


def _split_quality(frame: pd.DataFrame, spec: ProblemSpec) -> dict[str, object]:
    """Return the quality summary of one split or file."""
    labels = frame[spec.target_column].dropna()
    return {
        "rows": int(len(frame)),
        "duplicate_rows": int(frame[spec.features].duplicated().sum()),
        "class_balance": {
            "positive_share": round(float(labels.mean()), 6) if len(labels) else None,
            "positive": int((labels == 1).sum()),
            "negative": int((labels == 0).sum()),
        },
        "columns": {
            c: _column_quality(frame[c], c in spec.numeric_features) for c in spec.features
        },
    }


def build_data_quality_report(
    validated_rows: pd.DataFrame,
    train_rows: pd.DataFrame,
    validation_rows: pd.DataFrame,
    test_rows: pd.DataFrame,
    accounting: dict[str, Any],
    spec: ProblemSpec,
    conflicting_labels: dict[str, Any],
    label_issues: dict[str, Any],
    slice_coverage: dict[str, Any],
    split_mismatch: dict[str, Any],
) -> tuple[dict, pd.DataFrame]:
    """Return the data-quality report (columns per split and file, label consistency, coverage, split mismatch) as JSON,
    and its columns as one row per (split, column)."""
    parts = {
        f"file {file}": frame for file, frame in validated_rows.groupby(rows.SOURCE_COLUMN, sort=False)
    } | {"train": train_rows, "validation": validation_rows, "test": test_rows}
    report = {
        "row_accounting": accounting,
        "dropped_columns": spec.dropped_columns,
        "splits": {name: _split_quality(frame, spec) for name, frame in parts.items()},
        "conflicting_labels": conflicting_labels,
        "label_issues": label_issues,
        "slice_coverage": slice_coverage,
        "split_mismatch": split_mismatch,
    }
    table = pd.DataFrame(
        [
            {"split": name, "column": column, "rows": summary["rows"], **quality}
            for name, summary in report["splits"].items()
            for column, quality in summary["columns"].items()
        ]
    )
    return report, table
