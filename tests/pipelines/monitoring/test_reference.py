"""The prediction-drift reference: the bundle's out-of-sample probabilities of the validation rows, aligned with
monitoring's reference rows; bundles released before them are scored as before, with a warning."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from ml_lifecycle.bundle import BundleError, ModelBundle, ReferencePredictions
from ml_lifecycle.deployment import deploy
from ml_lifecycle.evidently_glue import PREDICTION, PROBABILITY
from ml_lifecycle.pipeline_registry import RELEASES, released_under
from ml_lifecycle.pipelines.monitoring import checks
from ml_lifecycle.pipelines.release import calibration as release_steps
from tests.conftest import project_catalog, run_kedro
from tests.pipelines.inference.tiny_deployment import tiny_bundle

from .tiny_monitoring import headerless_spec, held_out_rows, tiny_deployed

DEPLOYMENT_LOG = "ml_lifecycle.deployment"


def with_reference(rows_: pd.DataFrame, probabilities: np.ndarray) -> ModelBundle:
    """Return the tiny bundle carrying `probabilities` as the out-of-sample probabilities of `rows_`."""
    reference = ReferencePredictions.of(probabilities, rows_["income"], "holdout twin, fitted without the validation split")
    return replace(tiny_bundle(), reference=reference)


def released_before_reference_probabilities(bundle: ModelBundle) -> ModelBundle:
    """Return `bundle` laid out as bundles were pickled before they stored reference probabilities: no such attribute."""
    old = object.__new__(ModelBundle)
    for name in ("recipe", "model", "abstain_band"):
        object.__setattr__(old, name, getattr(bundle, name))
    return old


def true_class_probability(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Return the mean probability given to each row's true class."""
    return float(np.where(labels == 1, probabilities, 1 - probabilities).mean())


# ---------- on the tiny problem ----------

def test_the_reference_takes_the_bundles_out_of_sample_probabilities_and_decides_at_the_deployed_threshold(caplog):
    reference = held_out_rows(40)
    stored = np.linspace(0.05, 0.95, 40)
    deployed = tiny_deployed(bundle=with_reference(reference, stored))
    with caplog.at_level(logging.INFO, logger=DEPLOYMENT_LOG):
        scored = checks.score_reference(reference, deployed, headerless_spec())
    np.testing.assert_array_equal(scored[PROBABILITY], stored)
    assert (scored[PREDICTION] == (stored >= 0.5)).all()
    assert scored.drop(columns=[PROBABILITY, PREDICTION]).equals(reference)
    assert "registry version v1: 40 rows, probabilities from the holdout twin" in caplog.text


def test_a_reference_of_more_rows_than_the_released_validation_split_is_refused_naming_the_version():
    reference = held_out_rows(40)
    deployed = tiny_deployed(bundle=with_reference(reference.iloc[:30], np.full(30, 0.3)))
    with pytest.raises(BundleError, match="registry version v1 .* 30 validation rows, the reference has 40 rows"):
        checks.score_reference(reference, deployed, headerless_spec())


def test_a_reference_of_the_same_size_in_another_order_is_refused():
    reference = held_out_rows(40)
    deployed = tiny_deployed(bundle=with_reference(reference, np.full(40, 0.3)))
    reordered = reference.sort_values("income", kind="stable").reset_index(drop=True)
    with pytest.raises(BundleError, match="not those of its validation rows in the same order"):
        checks.score_reference(reordered, deployed, headerless_spec())


def test_a_bundle_released_before_reference_probabilities_loads_and_scores_the_reference_itself_with_a_warning(caplog):
    deployed = tiny_deployed(bundle=released_before_reference_probabilities(tiny_bundle()))
    assert "reference" not in vars(deployed.bundle) and deployed.bundle.reference is None  # unpickled from the old layout
    reference, spec = held_out_rows(40), headerless_spec()
    with caplog.at_level(logging.WARNING, logger=DEPLOYMENT_LOG):
        scored = checks.score_reference(reference, deployed, spec)
    np.testing.assert_array_equal(scored[PROBABILITY], deployed.probabilities(deployed.bundle.model_rows(reference, spec)))
    assert "Registry version v1 has no out-of-sample reference probabilities" in caplog.text


def test_every_release_predicts_the_very_rows_monitoring_takes_as_its_reference():
    for namespace in RELEASES:
        node = next(n for n in released_under(namespace).nodes if n.name == f"{namespace}.predict_reference")
        assert "monitoring_reference" in node.inputs, namespace


# ---------- the released champion of conf/test ----------


@pytest.fixture(scope="module")
def released(test_project: Path) -> dict[str, Any]:
    """Monitoring's scored reference in the shared project (released first if the session has not yet), its champion and catalog."""
    outputs = run_kedro(test_project, ["monitoring"], to_outputs=["scored_reference"])
    catalog = project_catalog(test_project)
    champion = deploy(catalog.load("champion_bundle"), catalog.load("params:problem"))
    return {"scored_reference": outputs["scored_reference"].load(), "champion": champion, "catalog": catalog}


def test_the_released_bundle_carries_its_calibrated_holdout_twins_probabilities_of_the_validation_rows(released):
    catalog, champion = released["catalog"], released["champion"]
    spec, validation, champion_model = catalog.load("params:problem"), catalog.load("validation_split"), catalog.load("champion_model")
    twin = release_steps.fit_holdout_twin(champion_model, catalog.load("train_split"), catalog.load("champion_selection"),
                                          catalog.load("tuning_results"), catalog.load("params:modeling"), spec)
    assert twin is not champion_model  # conf/test refits the champion on train and validation
    _, calibrated_twin = release_steps.calibrate_model(champion_model, twin, validation, catalog.load("calibration_comparison"),
                                                       spec)
    stored = champion.bundle.reference
    assert stored.source.startswith("holdout twin")
    np.testing.assert_allclose(stored.probabilities, calibrated_twin.predict_proba(validation)[:, 1])


def test_monitoring_scores_its_reference_with_them_not_with_the_refitted_champions_surer_in_sample_ones(released):
    catalog, champion, scored = released["catalog"], released["champion"], released["scored_reference"]
    spec, reference = catalog.load("params:problem"), catalog.load("monitoring_reference")
    out_of_sample = scored[PROBABILITY].to_numpy()
    np.testing.assert_array_equal(out_of_sample, champion.bundle.reference.probabilities)
    assert (scored[PREDICTION] == (out_of_sample >= champion.threshold)).all()
    in_sample = champion.probabilities(champion.bundle.model_rows(reference, spec))
    labels = reference[spec.target_column].to_numpy()
    assert not np.allclose(in_sample, out_of_sample)
    # The refitted champion learned these rows' labels: it gives the true class more probability than a model that never saw them.
    assert true_class_probability(in_sample, labels) > true_class_probability(out_of_sample, labels)
    assert log_loss(labels, in_sample) < log_loss(labels, out_of_sample)
