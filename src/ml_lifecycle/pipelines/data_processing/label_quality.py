"""Is the dataset defined consistently, does it cover the important cases, do its splits match?

The data-quality report's checks of the labels and the splits: identical feature rows with
conflicting labels, likely label errors by confident learning on out-of-fold probabilities,
rows and positives per declared slice value, and an adversarial train-versus-test classifier.
Every finding is listed for review; no row is dropped (docs/data_card.md, *Label consistency
and coverage*).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits

from ml_lifecycle import rows
from ml_lifecycle.pipelines.data_processing.nodes import QualityChecks, RowRules
from ml_lifecycle.report_index import IndexSection, Link
from ml_lifecycle.spec import ProblemSpec

MAX_LEVELS = 255  # HistGradientBoosting's native categorical support takes at most max_bins (255) levels per column
REPORT_HREF = "data_processing/data_quality_report.json"
TABLE_COLUMNS = ["check", "split", "subject", "value", "limit", "flagged"]
NOTED_SLICES = 8  # flagged slice values named on the index page; the report lists all
IMPORTANCE_ROWS = 2_000  # held-out rows per fold each feature is shuffled on: predictions, not fits, dominate the cost


# ---------- shared ----------


def _plain(value: Any) -> Any:
    """Return a value JSON holds as is: missing as None, numpy scalars as Python ones."""
    if pd.isna(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _share(part: float, whole: float) -> float:
    """Return part / whole rounded for the report (0.0 for an empty whole)."""
    return round(float(part) / whole, 6) if whole else 0.0


def _label_names(spec: ProblemSpec) -> list[str]:
    """Return the declared labels in the order of the 0/1 target."""
    return [spec.target.negative_label, spec.target.positive_label]


def frequent_levels(frame: pd.DataFrame, spec: ProblemSpec) -> dict[str, list[str]]:
    """Return each categorical feature's most frequent levels in `frame`, as many as the quick model takes."""
    return {c: frame[c].value_counts().index[:MAX_LEVELS].tolist() for c in spec.categorical_features}


def model_inputs(frame: pd.DataFrame, spec: ProblemSpec, levels: dict[str, list[str]]) -> np.ndarray:
    """Return the features (spec order) as a float array: numbers as they are, categories as codes in `levels`, else missing."""
    # an array of codes, not a DataFrame of categoricals: HistGradientBoosting's own encoding of a frame took half the time
    numbers = frame[spec.numeric_features].astype("float64").to_numpy()
    codes = [pd.Categorical(frame[c], categories=levels[c]).codes for c in spec.categorical_features]
    return np.column_stack([numbers, *(np.where(c >= 0, c, np.nan) for c in codes)])


def quick_model(spec: ProblemSpec) -> HistGradientBoostingClassifier:
    """Return the small, seeded gradient-boosting model both model-based checks fit per fold, on `model_inputs`."""
    # 50 rounds: on Adult's train rows 0.926 out-of-fold ROC AUC against 0.927 with 100, at half the time
    return HistGradientBoostingClassifier(max_iter=50, early_stopping=False, random_state=spec.seed,
                                          categorical_features=[c in spec.categorical_features for c in spec.features])


def usable_folds(labels: np.ndarray, folds: int) -> int:
    """Return how many stratified folds `labels` allow: at most the rows of the rarest class (0 when a class is absent)."""
    counts = np.bincount(labels, minlength=2)
    return int(min(folds, counts.min()))


# ---------- 1. conflicting labels ----------


def conflicting_labels(frame: pd.DataFrame, spec: ProblemSpec, examples: int) -> dict[str, Any]:
    """Return the groups of identical feature rows holding both labels: counts, share of rows and the largest groups."""
    target = spec.target_column
    labelled = frame.dropna(subset=[target])
    groups = (labelled.groupby(spec.features, dropna=False, sort=False)[target]
              .agg(rows="size", positives="sum").reset_index())
    mixed = groups[(groups["positives"] > 0) & (groups["positives"] < groups["rows"])]
    mixed = mixed.sort_values("rows", ascending=False, kind="stable")
    negatives = mixed["rows"] - mixed["positives"]
    negative, positive = _label_names(spec)
    return {
        "labelled_rows": len(labelled),
        "groups": len(mixed),
        "rows": int(mixed["rows"].sum()),
        "share": _share(mixed["rows"].sum(), len(labelled)),
        # however it predicts, a model on these features gets at least these rows wrong
        "minority_label_rows": int(np.minimum(mixed["positives"], negatives).sum()),
        "examples": [
            {"features": {c: _plain(row[c]) for c in spec.features},
             "labels": {positive: int(row["positives"]), negative: int(row["rows"] - row["positives"])}}
            for _, row in mixed.head(examples).iterrows()
        ],
    }


def find_conflicting_labels(validated_rows: pd.DataFrame, train_rows: pd.DataFrame, validation_rows: pd.DataFrame,
                            test_rows: pd.DataFrame, spec: ProblemSpec, rules: RowRules) -> dict[str, Any]:
    """Return identical feature rows with conflicting labels in each split and in all labelled rows."""
    parts = {"train": train_rows, "validation": validation_rows, "test": test_rows, "all labelled rows": validated_rows}
    return {name: conflicting_labels(frame, spec, rules.quality.conflict_examples) for name, frame in parts.items()}


# ---------- 2. likely label errors (confident learning) ----------


def confident_learning_issues(probabilities: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return which rows' given labels are likely wrong by the confident joint, and each class's threshold.

    Northcutt, Jiang & Chuang (2021), *Confident learning*, eq. 1: class k's threshold is the
    mean probability of k over the rows labelled k; a row counts under the likeliest class whose
    probability reaches its threshold, and its label is likely wrong when that class is another
    one (the confident joint's off-diagonal). Not "the given label's probability is below its
    threshold": on Adult that marks a third of the train rows, every row less sure than its
    class's average. cleanlab 2.9 installs with these pins and its
    `find_label_issues(filter_by="confident_learning")` marks the same rows (checked on Adult),
    but a dependency for the three lines below is not worth its weight.
    """
    thresholds = np.array([probabilities[labels == k, k].mean() for k in range(probabilities.shape[1])])
    reaching = probabilities >= thresholds
    confident_class = np.where(reaching, probabilities, -np.inf).argmax(axis=1)
    return reaching.any(axis=1) & (confident_class != labels), thresholds


def out_of_fold_probabilities(features: np.ndarray, labels: np.ndarray, folds: int, checks: QualityChecks,
                              spec: ProblemSpec) -> np.ndarray:
    """Return each row's class probabilities from the quick model fitted on the other folds."""
    with threadpool_limits(checks.threads):
        return cross_val_predict(quick_model(spec), features, labels, method="predict_proba",
                                 cv=StratifiedKFold(folds, shuffle=True, random_state=spec.seed))


def find_label_issues(train_rows: pd.DataFrame, spec: ProblemSpec, rules: RowRules) -> dict[str, Any]:
    """Return the train rows confident learning marks as likely mislabelled, for review (never dropped)."""
    checks = rules.quality
    labels = train_rows[spec.target_column].astype("int64").to_numpy()
    folds = usable_folds(labels, checks.folds)
    if folds < 2:
        return {"skipped": "a class has fewer than 2 train rows: no stratified out-of-fold probabilities"}
    probabilities = out_of_fold_probabilities(model_inputs(train_rows, spec, frequent_levels(train_rows, spec)),
                                              labels, folds, checks, spec)
    issues, thresholds = confident_learning_issues(probabilities, labels)
    given = probabilities[np.arange(len(labels)), labels]
    listed = np.flatnonzero(issues)[np.argsort(given[issues], kind="stable")][: checks.label_issue_examples]
    names = _label_names(spec)
    return {
        "method": "confident learning (Northcutt et al. 2021): another class reaches its threshold, the mean probability "
                  "of that class over the rows labelled with it; out-of-fold probabilities of a seeded "
                  f"HistGradientBoostingClassifier, {folds} stratified folds of the train rows",
        "rows": len(labels),
        "quick_model_roc_auc": round(float(roc_auc_score(labels, probabilities[:, 1])), 6),
        "thresholds": {names[k]: round(float(t), 6) for k, t in enumerate(thresholds)},
        "count": int(issues.sum()),
        "share": _share(issues.sum(), len(labels)),
        "by_given_label": {names[k]: int((issues & (labels == k)).sum()) for k in range(len(names))},
        "examples": [
            {rows.SOURCE_COLUMN: str(train_rows[rows.SOURCE_COLUMN].iloc[i]), rows.LINE_COLUMN: int(train_rows[rows.LINE_COLUMN].iloc[i]),
             "given_label": names[labels[i]], "given_label_probability": round(float(given[i]), 4),
             "features": {c: _plain(train_rows[c].iloc[i]) for c in spec.features}}
            for i in listed
        ],
    }


# ---------- 3. coverage ----------


def _slice_values(frame: pd.DataFrame, column: str, spec: ProblemSpec) -> pd.Series:
    """Return a split's values of a slice column as text, missing ones as the missing category (as models see them)."""
    return frame[column].astype("str").where(frame[column].notna(), spec.missing_category)


def slice_coverage(splits: dict[str, pd.DataFrame], column: str, spec: ProblemSpec, checks: QualityChecks) -> list[dict[str, Any]]:
    """Return rows and positives per value of one slice column in each split, flagging values under the minimums."""
    values = {name: _slice_values(frame, column, spec) for name, frame in splits.items()}
    declared = spec.banded_columns[column].labels if column in spec.banded_columns else []
    seen = sorted(set().union(*(set(v) for v in values.values())))
    levels = list(dict.fromkeys([*declared, *seen]))  # a declared band no split holds shows up with 0 rows
    records = []
    for name, frame in splits.items():
        counts = values[name].value_counts().reindex(levels, fill_value=0)
        positives = frame[spec.target_column].eq(1).groupby(values[name]).sum().reindex(levels, fill_value=0)
        for level in levels:
            too_few_rows = bool(counts[level] < checks.min_slice_rows)
            too_few_positives = bool(positives[level] < checks.min_slice_positives)
            records.append({"split": name, "column": column, "value": level, "rows": int(counts[level]),
                            "positives": int(positives[level]), "too_few_rows": too_few_rows,
                            "too_few_positives": too_few_positives, "flagged": too_few_rows or too_few_positives})
    return records


def measure_slice_coverage(train_rows: pd.DataFrame, validation_rows: pd.DataFrame, test_rows: pd.DataFrame,
                           spec: ProblemSpec, rules: RowRules) -> dict[str, Any]:
    """Return rows and positives per declared slice value in each split, and how many fall under the minimums."""
    checks = rules.quality
    splits = {"train": train_rows, "validation": validation_rows, "test": test_rows}
    values = [record for column in spec.slice_columns for record in slice_coverage(splits, column, spec, checks)]
    return {"min_rows": checks.min_slice_rows, "min_positives": checks.min_slice_positives,
            "flagged": sum(record["flagged"] for record in values), "values": values}


# ---------- 4. split mismatch (adversarial validation) ----------


def null_auc_standard_error(first: int, second: int) -> float:
    """Return ROC AUC's standard error between groups of these sizes when nothing tells them apart (Mann-Whitney U's null)."""
    return float(np.sqrt((first + second + 1) / (12 * first * second)))


def _shuffled(features: np.ndarray, column: int, rng: np.random.Generator) -> np.ndarray:
    """Return `features` with one column's values shuffled across its rows."""
    shuffled = features.copy()
    shuffled[:, column] = rng.permutation(features[:, column])
    return shuffled


def _importance_rows(held_index: np.ndarray, is_test: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return up to IMPORTANCE_ROWS of a fold's held-out rows, train and test rows in their held-out proportion (at least one each)."""
    if len(held_index) <= IMPORTANCE_ROWS:
        return held_index
    groups = [held_index[is_test[held_index] == k] for k in (0, 1)]
    picked = [rng.permutation(g)[: max(1, round(IMPORTANCE_ROWS * len(g) / len(held_index)))] for g in groups]
    return np.sort(np.concatenate(picked))


def adversarial_scores(features: np.ndarray, is_test: np.ndarray, folds: int, spec: ProblemSpec) -> tuple[np.ndarray, pd.Series]:
    """Return out-of-fold probabilities that rows are test rows, and each feature's mean fold ROC AUC drop when shuffled."""
    scores = np.zeros(len(features))
    rng = np.random.default_rng(spec.seed)
    drops = []
    for fit_index, held_index in StratifiedKFold(folds, shuffle=True, random_state=spec.seed).split(features, is_test):
        model = quick_model(spec).fit(features[fit_index], is_test[fit_index])
        scores[held_index] = model.predict_proba(features[held_index])[:, 1]
        sample = _importance_rows(held_index, is_test, rng)
        held, truth = features[sample], is_test[sample]
        auc = roc_auc_score(truth, scores[sample])
        drops.append({name: auc - roc_auc_score(truth, model.predict_proba(_shuffled(held, i, rng))[:, 1])
                      for i, name in enumerate(spec.features)})
    return scores, pd.DataFrame(drops).mean().sort_values(ascending=False, kind="stable")


def check_split_mismatch(train_rows: pd.DataFrame, test_rows: pd.DataFrame, spec: ProblemSpec, rules: RowRules) -> dict[str, Any]:
    """Return how well a quick model tells train rows from test rows, the limit it is flagged above and the separating features."""
    checks = rules.quality
    is_test = np.repeat([0, 1], [len(train_rows), len(test_rows)])
    folds = usable_folds(is_test, checks.folds)
    if folds < 2:
        return {"skipped": "fewer than 2 train or test rows"}
    both = pd.concat([train_rows, test_rows], ignore_index=True)
    with threadpool_limits(checks.threads):
        scores, drops = adversarial_scores(model_inputs(both, spec, frequent_levels(both, spec)), is_test, folds, spec)
    auc = float(roc_auc_score(is_test, scores))
    error = null_auc_standard_error(len(train_rows), len(test_rows))
    limit = 0.5 + max(checks.adversarial_standard_errors * error, checks.adversarial_min_margin)
    return {
        "method": f"adversarial validation: a seeded HistGradientBoostingClassifier tells train from test rows, "
                  f"{folds} stratified folds, out-of-fold ROC AUC; importance = mean drop of a fold's ROC AUC (on up to "
                  f"{IMPORTANCE_ROWS:,} held-out rows) when the feature is shuffled",
        "rows": {"train": len(train_rows), "test": len(test_rows)},
        "roc_auc": round(auc, 6),
        "null_standard_error": round(error, 6),
        "limit": round(limit, 6),
        "limit_from": f"0.5 + max({checks.adversarial_standard_errors:g} x sqrt((n_train + n_test + 1) / (12 n_train n_test)), "
                      f"{checks.adversarial_min_margin:g}): the AUC's standard error when the splits do not differ "
                      "(Mann-Whitney U null), with a declared minimum margin",
        "flagged": auc > limit,
        "separating_features": [{"feature": f, "roc_auc_drop": round(float(d), 6)} for f, d in drops.items()],
    }


# ---------- views: table and index section ----------


def tabulate_label_quality(data_quality_report: dict[str, Any]) -> pd.DataFrame:
    """Return the label and coverage checks as one row per finding: check, split, subject, value, limit, flagged."""
    report = data_quality_report
    found = [("conflicting labels", part, subject, c[key], None, None)
             for part, c in report["conflicting_labels"].items()
             for subject, key in (("groups", "groups"), ("rows", "rows"), ("share of rows", "share"),
                                  ("rows against their group's majority", "minority_label_rows"))]
    issues = report["label_issues"]
    if "skipped" not in issues:
        found += [("likely label errors", "train", "rows", issues["count"], None, None),
                  ("likely label errors", "train", "share of rows", issues["share"], None, None)]
        found += [("likely label errors", "train", f"given {label}", n, None, None) for label, n in issues["by_given_label"].items()]
    coverage = report["slice_coverage"]
    for v in coverage["values"]:
        found += [("coverage", v["split"], f"{v['column']}={v['value']}: rows", v["rows"], coverage["min_rows"], v["too_few_rows"]),
                  ("coverage", v["split"], f"{v['column']}={v['value']}: positives", v["positives"], coverage["min_positives"],
                   v["too_few_positives"])]
    mismatch = report["split_mismatch"]
    if "skipped" not in mismatch:
        found.append(("split mismatch", "train vs test", "ROC AUC", mismatch["roc_auc"], mismatch["limit"], mismatch["flagged"]))
        found += [("split mismatch", "train vs test", f"ROC AUC drop, {f['feature']} shuffled", f["roc_auc_drop"], None, None)
                  for f in mismatch["separating_features"]]
    return pd.DataFrame(found, columns=TABLE_COLUMNS, dtype="object")  # counts stay integers beside shares


def _notes(report: dict[str, Any]) -> list[str]:
    """Return one sentence per flag of the label and coverage checks, and any check that was skipped."""
    notes = []
    mismatch, coverage, issues = report["split_mismatch"], report["slice_coverage"], report["label_issues"]
    if mismatch.get("flagged"):
        separating = ", ".join(f["feature"] for f in mismatch["separating_features"][:3])
        notes.append(f"Train and test rows differ: a model tells them apart with ROC AUC {mismatch['roc_auc']:.3f} "
                     f"(limit {mismatch['limit']:.3f}); most separating: {separating}.")
    flagged = [v for v in coverage["values"] if v["flagged"]]
    if flagged:
        named = "; ".join(f"{v['column']}={v['value']} in {v['split']} ({v['rows']:,} rows, {v['positives']:,} positive)"
                          for v in flagged[:NOTED_SLICES])
        more = f" and {len(flagged) - NOTED_SLICES} more" if len(flagged) > NOTED_SLICES else ""
        notes.append(f"Slice values under {coverage['min_rows']} rows or {coverage['min_positives']} positives: {named}{more}.")
    if issues.get("count"):
        notes.append(f"{issues['count']:,} train rows look mislabelled by confident learning: listed for review in the report "
                     "(file and line), not dropped.")
    notes += [f"{name.replace('_', ' ').capitalize()} skipped: {check['skipped']}."
              for name, check in (("label_issues", issues), ("split_mismatch", mismatch)) if "skipped" in check]
    return notes


def build_index_section(data_quality_report: dict[str, Any]) -> tuple[IndexSection, dict[str, Any]]:
    """Return the data_processing section of the report index, and the report to keep at the fixed path it links to."""
    report = data_quality_report
    sizes = report["row_accounting"]["split_rows"]
    train_conflicts, issues = report["conflicting_labels"]["train"], report["label_issues"]
    coverage, mismatch = report["slice_coverage"], report["split_mismatch"]
    section = IndexSection(
        title="Data processing (data quality)",
        updated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        headline={
            "train / validation / test rows": f"{sizes['train']:,} / {sizes['validation']:,} / {sizes['test']:,}",
            "train rows with conflicting labels": f"{train_conflicts['rows']:,} ({train_conflicts['share']:.1%})",
            "likely label errors (train)": "skipped" if "skipped" in issues else f"{issues['count']:,} ({issues['share']:.1%})",
            "slice values under the minimums": f"{coverage['flagged']} of {len(coverage['values'])}",
            "train vs test ROC AUC (limit)": "skipped" if "skipped" in mismatch
            else f"{mismatch['roc_auc']:.3f} ({mismatch['limit']:.3f})",
        },
        links=[Link(label="Data-quality report (JSON)", href=REPORT_HREF)],
        notes=_notes(report),
    )
    return section, report
