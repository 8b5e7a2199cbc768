"""Shadow and canary challengers, their comparison, and blue-green promotion and rollback of the served version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ml_lifecycle.bundle import ModelBundle
from ml_lifecycle.estimators import ScoringModel
from ml_lifecycle.registry import ReleaseCandidate, ReleaseInfo
from ml_lifecycle.spec import ProblemSpec

from .conftest import (
    as_records,
    champion_command,
    kedro_command,
    logged,
    project_registry,
    registry_record,
    set_challenger,
)


@pytest.fixture(scope="module")
def challenger_version(deployed_project: Path) -> str:
    """A second registry version (not promoted): the champion's model at threshold 0, so it says positive to every row."""
    registry = project_registry(deployed_project)
    champion = registry.load()
    model = ScoringModel(champion.bundle.model.model, threshold=0.0, description="test challenger: champion at threshold 0")
    info = champion.manifest.model_dump(include=set(ReleaseInfo.model_fields)) | {"description": model.description}
    return registry.register(ReleaseCandidate(bundle=ModelBundle(recipe=champion.bundle.recipe, model=model),
                                              info=ReleaseInfo.model_validate(info))).version


@pytest.fixture
def challenger(service: httpx.Client, deployed_project: Path, challenger_version: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """Serve `challenger_version` in the mode given by the test's parameter; afterwards serve the champion alone."""
    set_challenger(deployed_project, version=challenger_version, **request.param)
    assert service.post("/admin/reload").json()["challenger"] == challenger_version
    yield challenger_version
    set_challenger(deployed_project)
    assert service.post("/admin/reload").json()["challenger"] is None


@pytest.mark.parametrize("challenger", [{"mode": "shadow"}], indirect=True)
def test_a_shadow_challenger_scores_every_request_beside_the_champion_and_never_answers(
        service: httpx.Client, deployed_project: Path, challenger: str, new_rows: pd.DataFrame, spec: ProblemSpec):
    champion = registry_record(deployed_project).champion
    answers = [service.post("/predict", json=as_records(new_rows.iloc[i : i + 3], spec)).json() for i in range(0, 30, 3)]
    assert {(a["model_version"], a["role"]) for a in answers} == {(champion, "champion")}
    service.post("/admin/drain")
    for answer in answers:
        shadow = logged(deployed_project, "SELECT row, model_version, probability, decision, threshold FROM shadow_predictions "
                                          "WHERE request_id = ? ORDER BY row", (answer["request_id"],))
        assert [s[0] for s in shadow] == [0, 1, 2]
        assert {s[1] for s in shadow} == {challenger}
        # Same fitted model: same probabilities; the challenger's own threshold makes its decisions.
        assert [s[2] for s in shadow] == [p["probability"] for p in answer["predictions"]]
        assert [s[3] for s in shadow] == [1, 1, 1]
    comparison = service.get("/challenger").json()
    assert comparison["challenger"] == challenger and comparison["mode"] == "shadow"
    assert comparison["rows_compared"] >= 30
    assert comparison["answered_by_challenger"] == 0
    assert comparison["mean_absolute_probability_difference"] == 0.0
    negatives = sum(p["decision"] == 0 for a in answers for p in a["predictions"])
    assert negatives > 0
    assert comparison["decision_agreement"] < 1.0
    assert service.get("/health").json()["background"] == {"pending": 0, "skipped": 0, "failed": 0}


def metric_samples(service: httpx.Client) -> dict[tuple[str, tuple], float]:
    """Return every sample of the service's /metrics, by name and sorted labels."""
    families = text_string_to_metric_families(service.get("/metrics").text)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in families for s in family.samples}


@pytest.mark.parametrize("challenger", [{"mode": "shadow"}], indirect=True)
def test_metrics_count_refused_rows_challenger_disagreements_and_the_background_queue(
        service: httpx.Client, challenger: str, new_rows: pd.DataFrame, spec: ProblemSpec):
    service.post("/admin/drain")
    before = metric_samples(service)
    records = as_records(new_rows.iloc[:8], spec)
    answers = [service.post("/predict", json=record).json() for record in records[:3]]
    answers.append(service.post("/predict", json=records[3:]).json())
    refused = service.post("/predict", json=[records[0] | {"age": -1}, records[1], records[2] | {"sex": 3, "age": "old"}])
    assert refused.status_code == 422
    service.post("/admin/drain")
    after = metric_samples(service)

    def grew(name: str) -> float:
        return after[(name, ())] - before.get((name, ()), 0.0)

    # The challenger is the champion's model at threshold 0: it decides positive wherever the champion answered negative.
    negatives = sum(p["decision"] == 0 for answer in answers for p in answer["predictions"])
    assert 0 < negatives < 8
    assert grew("ml_service_rows_rejected_total") == 2
    assert grew("ml_service_challenger_rows_compared_total") == 8
    assert grew("ml_service_challenger_disagreements_total") == negatives
    assert grew("ml_service_background_skipped_total") == 0 and grew("ml_service_background_failed_total") == 0
    assert after[("ml_service_background_pending", ())] == 0


@pytest.mark.parametrize("challenger", [{"mode": "canary", "canary_share": 0.5}], indirect=True)
def test_a_canary_answers_its_share_and_every_response_is_logged_with_the_model_that_gave_it(
        service: httpx.Client, deployed_project: Path, challenger: str, new_rows: pd.DataFrame, spec: ProblemSpec):
    champion = registry_record(deployed_project).champion
    answers = [service.post("/predict", json=record).json() for record in as_records(new_rows.iloc[:40], spec)]
    roles = {a["request_id"]: (a["role"], a["model_version"]) for a in answers}
    assert set(roles.values()) == {("champion", champion), ("challenger", challenger)}
    service.post("/admin/drain")
    for request_id, (role, version) in roles.items():
        ((logged_role, logged_version),) = logged(deployed_project, "SELECT role, model_version FROM predictions WHERE request_id = ?",
                                                  (request_id,))
        assert (logged_role, logged_version) == (role, version)
        ((other,),) = logged(deployed_project, "SELECT model_version FROM shadow_predictions WHERE request_id = ?", (request_id,))
        assert other == (champion if role == "challenger" else challenger)
    comparison = service.get("/challenger").json()
    assert comparison["answered_by_challenger"] == sum(role == "challenger" for role, _ in roles.values())


@pytest.mark.parametrize("challenger", [{"mode": "shadow"}], indirect=True)
def test_the_comparison_reports_both_models_metrics_on_rows_with_feedback(
        service: httpx.Client, challenger: str, new_rows: pd.DataFrame, spec: ProblemSpec):
    batch = new_rows.iloc[100:160]
    answer = service.post("/predict", json=as_records(batch, spec)).json()
    assert service.post("/feedback", json={"request_id": answer["request_id"], "labels": batch["income"].tolist()}).status_code == 200
    service.post("/admin/drain")
    comparison = service.get("/challenger").json()
    assert comparison["labelled_rows"] >= 60
    assert comparison["champion_metrics"]["log_loss"] == comparison["challenger_metrics"]["log_loss"]
    assert set(comparison["challenger_metrics"]) >= {"log_loss", "roc_auc", "accuracy"}


def test_promotion_and_rollback_swap_the_served_version_and_leave_an_audit_trail(
        service: httpx.Client, deployed_project: Path, challenger_version: str, new_rows: pd.DataFrame, spec: ProblemSpec):
    blue = registry_record(deployed_project).champion
    record = as_records(new_rows.iloc[:1], spec)[0]

    refused = champion_command(deployed_project, "promote", challenger_version, "--reason", "test: green goes live")
    assert refused.exit_code != 0 and f"{challenger_version} was never judged by the release gate" in refused.output
    assert registry_record(deployed_project).champion == blue
    promoted = champion_command(deployed_project, "promote", challenger_version, "--force", "--reason", "test: green goes live")
    assert promoted.exit_code == 0, promoted.output
    assert service.get("/health").json()["champion"] == blue  # the running service keeps blue until told
    assert service.post("/admin/reload").json()["champion"] == challenger_version
    assert service.post("/predict", json=record).json()["model_version"] == challenger_version

    # blue passed the gate when nothing was served; against today's champion the comparison is redone, and a model
    # that scores exactly as the champion does not beat it
    rejudged = champion_command(deployed_project, "promote", blue, "--reason", "test: blue again")
    assert rejudged.exit_code != 0 and f"the release gate blocks {blue}: blocked by beats the incumbent" in rejudged.output
    assert f"vs {challenger_version}: gain +0.0000 [+0.0000, +0.0000]" in rejudged.output

    rolled_back = champion_command(deployed_project, "rollback", "--reason", "test: back to blue")
    assert rolled_back.exit_code == 0, rolled_back.output
    assert service.post("/admin/reload").json()["champion"] == blue
    assert service.post("/predict", json=record).json()["model_version"] == blue

    history = registry_record(deployed_project).history[-2:]
    assert [(e.event, e.version, e.previous_champion, e.reason, e.forced) for e in history] == [
        ("promoted", challenger_version, blue, "manual: test: green goes live", True),
        ("rolled back", blue, challenger_version, "test: back to blue", False),
    ]


def test_kedro_lists_the_registry_with_its_champion_and_history(deployed_project: Path):
    status = kedro_command(deployed_project, "champion", "status")
    assert status.returncode == 0, status.stderr
    champion = registry_record(deployed_project).champion
    assert f"champion: {champion}" in status.stdout
    assert f" * {champion} " in status.stdout
    assert "gate verdict at its release: passed" in status.stdout and "calibration error (block)" in status.stdout
    assert "history (latest last):" in status.stdout
    history = kedro_command(deployed_project, "champion", "history")
    assert history.returncode == 0 and f"promoted    {champion}" in history.stdout, history.stderr


def test_promoting_an_unknown_version_fails_naming_the_known_ones(deployed_project: Path):
    result = champion_command(deployed_project, "promote", "v999", "--reason", "typo")
    assert result.exit_code != 0
    assert "unknown model version 'v999'" in result.output


def test_with_no_challenger_configured_the_registrys_shadow_challenger_is_scored_in_shadow(
        service: httpx.Client, deployed_project: Path, challenger_version: str, new_rows: pd.DataFrame, spec: ProblemSpec):
    registry = project_registry(deployed_project)
    registry.record(challenger_version, "shadow", "test: a challenger the gate passed")
    try:
        assert service.post("/admin/reload").json()["challenger"] == challenger_version
        answer = service.post("/predict", json=as_records(new_rows.iloc[:2], spec)).json()
        assert answer["role"] == "champion"
        service.post("/admin/drain")
        shadow = logged(deployed_project, "SELECT model_version FROM shadow_predictions WHERE request_id = ?",
                        (answer["request_id"],))
        assert shadow == [(challenger_version,), (challenger_version,)]
    finally:
        registry.record(challenger_version, "retired", "test: end the shadow")
    assert service.post("/admin/reload").json()["challenger"] is None


def test_a_reload_that_cannot_deploy_is_refused_and_the_service_keeps_serving(
        service: httpx.Client, deployed_project: Path, new_rows: pd.DataFrame, spec: ProblemSpec):
    champion = service.get("/health").json()["champion"]
    set_challenger(deployed_project, version="v999")
    try:
        refused = service.post("/admin/reload")
        assert refused.status_code == 409
        assert "v999" in refused.json()["detail"] and f"still serving {champion}" in refused.json()["detail"]
        assert service.post("/predict", json=as_records(new_rows.iloc[:1], spec)[0]).json()["model_version"] == champion
    finally:
        set_challenger(deployed_project)
