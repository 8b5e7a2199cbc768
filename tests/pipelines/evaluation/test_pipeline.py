"""The evaluation pipeline (with its release steps): end to end in conf/test, and with bad config."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from kedro.validation.exceptions import ParameterValidationError

from ml_lifecycle import model_checks as checks
from ml_lifecycle.pipeline_registry import compose
from ml_lifecycle.pipelines.evaluation import create_pipeline
from ml_lifecycle.pipelines.release import calibration as calibration_steps
from ml_lifecycle.registry import ModelRegistry
from ml_lifecycle.report_index import ReportIndexDataset
from tests.conftest import add_env, project_catalog, run_kedro

SECTIONS = ["summary", "gate", "metrics", "threshold", "calibration", "confidence", "importance", "slices", "fairness",
            "behaviour", "evidently", "rationale"]
CARD_HEADINGS = ["## Intended use", "## Data", "## Metrics on the test split", "### Per slice", "### Fairness gaps",
                 "## Release gate", "## Decision threshold", "## Calibration", "## Behavioural tests", "## Known limits",
                 "## Computational cost"]


def test_calibration_and_threshold_are_chosen_without_reading_the_test_split():
    pipeline = compose("evaluation", create_pipeline())
    assert {"test_split", "frozen_holdout"}.isdisjoint(pipeline.to_outputs("released_model").all_inputs())
    assert "test_split" in pipeline.inputs()


def test_evaluation_releases_the_champion_through_the_release_steps_under_its_namespace():
    pipeline = compose("evaluation", create_pipeline())
    released = {n.name for n in pipeline.nodes if n.namespace == "evaluation"}
    assert {"evaluation.choose_threshold", "evaluation.judge_release", "evaluation.decide_promotion"} <= released
    assert pipeline.to_outputs("release_promotion").only_nodes_with_namespaces(["evaluation"]).nodes


# ---------- end to end in conf/test ----------


@pytest.fixture(scope="module")
def evaluated_project(test_project: Path) -> Path:
    """The shared project copy after one evaluation run (data preparation and modeling produced first if missing)."""
    run_kedro(test_project, ["evaluation"])
    return test_project


def test_the_released_bundle_is_registered_and_decided_by_the_gate_with_its_threshold(evaluated_project):
    catalog = project_catalog(evaluated_project)
    choice, test = catalog.load("threshold_choice"), catalog.load("test_split")
    registry = ModelRegistry(evaluated_project / "data/test/06_models/model_registry")
    snapshot = registry.snapshot()
    promotion = catalog.load("release_promotion")
    verdict = promotion.verdict
    if promotion.event == "promoted":  # the shared project's first release: it beats every baseline
        assert verdict.passed and verdict.incumbent is None and snapshot.champion == promotion.version
    else:  # an earlier test released this same model already: it cannot beat itself, and the incumbent stays
        assert [r.rule for r in verdict.failures("block")] == ["beats the incumbent"]
        assert snapshot.champion == verdict.incumbent != promotion.version
    loaded = registry.load(promotion.version)
    manifest = loaded.manifest
    assert manifest.stage == "released" and manifest.threshold == choice.threshold == loaded.bundle.threshold
    assert manifest.calibration == choice.calibration and manifest.problem == "adult"
    assert set(manifest.metrics) >= {"roc_auc", "log_loss", "brier"} and manifest.metrics_source.startswith("the frozen holdout")
    proba = loaded.bundle.probabilities(test)
    np.testing.assert_array_equal(proba, catalog.load("released_model").predict_proba(test)[:, 1])
    assert catalog.load("gate_verdict") == promotion.verdict


def test_the_threshold_is_the_best_one_on_validation_predictions_of_the_train_only_twin(evaluated_project):
    catalog = project_catalog(evaluated_project)
    spec, validation, champion = catalog.load("params:problem"), catalog.load("validation_split"), catalog.load("champion_model")
    config = catalog.load("params:evaluation")
    twin = calibration_steps.fit_holdout_twin(champion, catalog.load("train_split"), catalog.load("champion_selection"),
                                    catalog.load("tuning_results"), catalog.load("params:modeling"), spec)
    assert twin is not champion  # the champion was refitted on train and validation
    _, calibrated_twin = calibration_steps.calibrate_model(champion, twin, validation, catalog.load("calibration_comparison"), spec)
    curve = checks.threshold_curve(validation["income"].to_numpy(), calibrated_twin.predict_proba(validation)[:, 1],
                                   config.threshold)
    assert checks.best_threshold(curve, config.threshold) == catalog.load("released_model").threshold


def test_test_metrics_compare_the_released_model_with_every_baseline(evaluated_project):
    catalog = project_catalog(evaluated_project)
    metrics = catalog.load("test_metrics").set_index("model")
    assert set(catalog.load("params:modeling").baselines) <= set(metrics.index)
    assert metrics.loc["released", "roc_auc"] > 0.85
    assert metrics.loc["released", "log_loss"] < metrics.loc["majority_class", "log_loss"]
    for column in ["accuracy", "precision", "recall", "f1", "fbeta", "pr_auc", "brier", "ece", "tp", "fp", "tn", "fn"]:
        assert metrics[column].notna().all(), column
    value = catalog.load("params:problem").decision_value  # declared: every model's money per 1,000 decisions
    released = metrics.loc["released"]
    assert metrics.loc["released", "value_per_1000"] == pytest.approx(
        1000 * (released["tp"] * value.true_positive_value - released["fp"] * value.false_positive_cost
                - released["fn"] * value.false_negative_cost) / released[["tp", "fp", "tn", "fn"]].sum())
    summary = catalog.load("evaluation_summary")
    assert summary["value"]["others"].keys() == set(metrics.index) - {"released"}
    intervals = catalog.load("test_metric_intervals").set_index("metric")
    for name in ["roc_auc", "log_loss", "fbeta"]:  # the headline numbers, each with its interval
        low, high = summary["test_intervals"][name]
        assert low <= metrics.loc["released", name] <= high and (low, high) == tuple(intervals.loc[name, ["low", "high"]])


def test_slices_behaviour_and_leaks_are_reported_for_the_declared_settings(evaluated_project):
    catalog = project_catalog(evaluated_project)
    config, spec = catalog.load("params:evaluation"), catalog.load("params:problem")
    slices = catalog.load("slice_metrics")
    assert set(slices["slice_column"]) == set(spec.slice_columns) | set(config.slices.tags)
    small = slices[slices["too_small"]]
    assert small["rank"].isna().all() and (small["rows"] < config.slices.min_size).all()
    assert set(catalog.load("fairness_gaps")["slice_column"]) == set(spec.protected_attributes)
    checks = catalog.load("behavioural_checks")
    assert len(checks) == len(config.behaviour.directional) + len(config.behaviour.invariance)
    assert checks["passed"].isin([True, False]).all()
    leaks = catalog.load("leak_checks")
    assert set(leaks["feature"]) == set(spec.model_columns()) and not leaks["possible_leak"].any()


def test_the_report_holds_every_section_and_chart_and_works_offline(evaluated_project):
    page = (evaluated_project / "data/test/08_reporting/evaluation/evaluation_report.html").read_text()
    for section in SECTIONS:
        assert f'id="{section}"' in page, section
    assert page.count('class="plotly-graph-div"') == 6
    assert len(re.findall(r"plotly\.js v\d", page)) == 1  # plotly.js inlined once, not fetched
    assert not re.search(r"<script[^>]*\bsrc=", page)  # nothing loaded from elsewhere
    card = (evaluated_project / "data/test/08_reporting/evaluation/model_card.md").read_text()
    assert [h for h in CARD_HEADINGS if h not in card] == []
    references = project_catalog(evaluated_project).load("declared_references")
    assert len(references) == len(project_catalog(evaluated_project).load("params:problem").reference_results) > 0
    assert "declared, not measured here" in card and all(name in card for name in references["reference"])
    assert 'id="references"' in page


def test_the_index_links_every_evaluation_page_and_shows_the_headline(evaluated_project):
    reporting = evaluated_project / "data/test/08_reporting"
    section = ReportIndexDataset(str(reporting), "evaluation").load()["evaluation"]
    assert set(section.headline) >= {"release", "test ROC AUC", "test log loss", "threshold", "calibration", "largest fairness gap"}
    assert re.fullmatch(r"0\.\d{3} \[0\.\d{3}, 0\.\d{3}\]", section.headline["test ROC AUC"])  # with its bootstrap interval
    targets = [link.href.split("#")[0] for link in section.links]
    assert [t for t in targets if not (reporting / t).is_file()] == []
    assert "evaluation" in (reporting / "index.html").read_text()


def test_evidently_reports_exist_for_the_test_split_and_each_declared_slice(evaluated_project):
    reporting = evaluated_project / "data/test/08_reporting"
    catalog = project_catalog(evaluated_project)
    index, config = catalog.load("evidently_slice_index"), catalog.load("params:evaluation")
    assert {e["slice_column"] for e in index} == set(config.evidently_slice_columns)
    linked = [e["href"] for e in index if e["href"]]
    assert linked and [h for h in linked if not (reporting / h).is_file()] == []
    assert all(e["note"] for e in index if not e["href"])  # a slice without a report says why
    report = (reporting / "evidently/evaluation_test_classification.html").read_text()
    assert len(report) > 100_000 and "<html" in report.lower()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium missing")
def test_the_report_renders_its_charts_in_a_browser_without_errors(evaluated_project):
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (only with a browser)

    page_path = evaluated_project / "data/test/08_reporting/evaluation/evaluation_report.html"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(page_path.as_uri(), wait_until="load")
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=20_000)
        drawn = page.locator(".js-plotly-plot").count()
        browser.close()
    assert drawn == 6 and not errors


# ---------- bad configuration fails before anything runs ----------


@pytest.mark.parametrize(
    ("override", "error", "message"),
    [
        ("evaluation:\n  threshold:\n    objective: max_recall\n", ParameterValidationError, "'max_fbeta', 'min_expected_cost' or 'max_expected_value'"),
        ("evaluation:\n  threshold:\n    costs: {false_negative: -5}\n", ParameterValidationError,
         r"threshold\.costs\.false_negative"),
        ("evaluation:\n  slices:\n    extra_columns: [education_level]\n", ValueError,
         "slices.extra_columns: 'education_level' is not a feature or banded column"),
        ("evaluation:\n  slices:\n    tags:\n      rich: 'capital_gains > 0'\n", ValueError,
         "slices.tags.rich: query 'capital_gains > 0' cannot be evaluated"),
    ],
)
def test_bad_evaluation_config_fails_before_any_node_runs(project_copy, override, error, message):
    env = add_env(project_copy, "bad", {"parameters_evaluation.yml": override})
    with pytest.raises(error, match=message):
        run_kedro(project_copy, ["evaluation"], env=env)
    assert not (project_copy / "data" / env).exists()
