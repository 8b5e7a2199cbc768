"""Data preparation: raw files -> validated rows -> quality report -> model-input splits."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from sklearn.model_selection import train_test_split

from ml_lifecycle import rows
from ml_lifecycle.spec import ProblemSpec


def standardise_raw_rows(raw_files: dict[str, Callable[[], bytes]], spec: ProblemSpec) -> pd.DataFrame:
    """Return every declared raw file's rows, standardised and tagged with their file."""
    declared = [f for f in (spec.raw.train_file, spec.raw.test_file) if f is not None]
    frames = []
    for file in declared:
        path = f"{spec.raw.folder}/{file}"
        if file not in raw_files:
            raise rows.DataValidationError(
                f"{path}: file not found (problem.raw); files present: {sorted(raw_files)}"
            )
        frame = rows.standardise(rows.read_raw_table(raw_files[file](), path, spec), spec, path)
        # per file: once files are concatenated, a column one file lacks looks merely missing
        rows.require_columns(frame, [*spec.features, spec.target_column], path)
        if spec.raw.sample_rows is not None and len(frame) > spec.raw.sample_rows:
            frame = frame.sample(n=spec.raw.sample_rows, random_state=spec.seed).sort_index()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def validate_rows(standardised_rows: pd.DataFrame, spec: ProblemSpec) -> pd.DataFrame:
    """Return typed rows (features, 0/1 target, slice columns, file) after checking every rule."""
    files = standardised_rows[rows.SOURCE_COLUMN]
    target = spec.target_column
    for file, frame in standardised_rows.groupby(rows.SOURCE_COLUMN, sort=False):
        rows.require_columns(frame.dropna(axis=1, how="all"), [target], file)
        rows.require_columns(frame, spec.features, file)
    rows.raise_if_any(rows.numeric_problems(standardised_rows, spec), files, "numeric features hold numbers")
    rows.raise_if_any(rows.label_problems(standardised_rows[target], spec), files, "label is a declared label")
    typed = rows.cast_features(standardised_rows, spec)
    typed[target] = rows.encode_labels(standardised_rows[target], spec)
    typed = typed.join(rows.add_slice_columns(typed, spec))
    typed[rows.SOURCE_COLUMN] = files
    train_labels = typed.loc[files == f"{spec.raw.folder}/{spec.raw.train_file}", target].dropna()
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
    return typed


def split_rows(validated_rows: pd.DataFrame, spec: ProblemSpec) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Return train, validation and test rows, and the count of rows removed, by reason."""
    target = spec.target_column
    unlabelled = validated_rows[target].isna()
    kept = validated_rows[~unlabelled]
    removed = {"missing label": int(unlabelled.sum())}
    if spec.split.drop_duplicate_rows:
        duplicated = kept.drop(columns=rows.SOURCE_COLUMN).duplicated()
        removed["duplicate row"] = int(duplicated.sum())
        kept = kept[~duplicated]
    test_file = f"{spec.raw.folder}/{spec.raw.test_file}"
    if spec.raw.test_file is not None:
        in_test = kept[rows.SOURCE_COLUMN] == test_file
        train, test = kept[~in_test], kept[in_test]
    else:
        train, test = train_test_split(
            kept, test_size=spec.split.test_share, stratify=kept[target], random_state=spec.seed
        )
    fit, validation = train_test_split(
        train, test_size=spec.split.validation_share, stratify=train[target], random_state=spec.seed
    )
    accounting = {
        "raw_rows": int(len(validated_rows)),
        "removed": removed,
        "split_rows": {"train": len(fit), "validation": len(validation), "test": len(test)},
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
    accounting: dict,
    spec: ProblemSpec,
) -> tuple[dict, pd.DataFrame]:
    """Return the data-quality report as JSON and as one row per (split, column)."""
    parts = {
        f"file {file}": frame for file, frame in validated_rows.groupby(rows.SOURCE_COLUMN, sort=False)
    } | {"train": train_rows, "validation": validation_rows, "test": test_rows}
    report = {
        "row_accounting": accounting,
        "dropped_columns": spec.dropped_columns,
        "splits": {name: _split_quality(frame, spec) for name, frame in parts.items()},
    }
    table = pd.DataFrame(
        [
            {"split": name, "column": column, "rows": summary["rows"], **quality}
            for name, summary in report["splits"].items()
            for column, quality in summary["columns"].items()
        ]
    )
    return report, table
