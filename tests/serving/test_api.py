"""The prediction service over real HTTP: predictions, model info, docs, request log and feedback."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from ml_lifecycle.spec import ProblemSpec

from .conftest import as_records, logged, registry_record


def test_one_row_gets_probability_decision_label_and_the_champion_version(service: httpx.Client, new_rows: pd.DataFrame,
                                                                          spec: ProblemSpec, deployed_project: Path):
    response = service.post("/predict", json=as_records(new_rows.iloc[:1], spec)[0])
    assert response.status_code == 200
    answer = response.json()
    assert answer["model_version"] == registry_record(deployed_project).champion
    assert answer["role"] == "champion"
    (prediction,) = answer["predictions"]
    assert 0.0 <= prediction["probability"] <= 1.0
    assert prediction["decision"] == int(prediction["probability"] >= answer["threshold"])
    assert prediction["label"] == (spec.target.positive_label if prediction["decision"] else spec.target.negative_label)
    assert prediction["unseen_categories"] == {}


def test_a_list_gets_one_prediction_per_row_in_order(service: httpx.Client, new_rows: pd.DataFrame, spec: ProblemSpec):
    records = as_records(new_rows.iloc[:20], spec)
    many = service.post("/predict", json=records).json()["predictions"]
    one_by_one = [service.post("/predict", json=r).json()["predictions"][0]["probability"] for r in records[:5]]
    assert len(many) == 20
    assert [p["probability"] for p in many[:5]] == one_by_one
    assert len({p["probability"] for p in many}) > 1


def test_a_prediction_inside_the_abstain_band_is_marked_low_confidence(service: httpx.Client, new_rows: pd.DataFrame,
                                                                       spec: ProblemSpec):
    low, high = service.get("/model").json()["abstain_band"]
    predictions = service.post("/predict", json=as_records(new_rows.iloc[:200], spec)).json()["predictions"]
    assert [p["low_confidence"] for p in predictions] == [low < p["probability"] < high for p in predictions]
    assert 0 < sum(p["low_confidence"] for p in predictions) < len(predictions)


def test_model_info_names_version_threshold_metrics_and_the_feature_schema(service: httpx.Client, deployed_project: Path,
                                                                          spec: ProblemSpec):
    info = service.get("/model").json()
    record = registry_record(deployed_project)
    champion = record.versions[record.champion]
    assert info["version"] == record.champion
    assert info["threshold"] == champion.threshold and info["sha256"] == champion.sha256
    assert info["metrics"] == champion.metrics and info["abstain_band"] == list(champion.abstain_band)
    assert info["champion_since"]["version"] == record.champion
    schema = info["request_row_schema"]
    assert set(schema["properties"]) == set(spec.features)
    assert set(schema["required"]) == set(spec.features)
    assert schema["additionalProperties"] is False
    assert info["features"] == {"numeric": spec.numeric_features, "categorical": spec.categorical_features}


def test_openapi_documents_every_endpoint_and_the_docs_page_is_served(service: httpx.Client):
    paths = service.get("/openapi.json").json()["paths"]
    assert {"/predict", "/feedback", "/health", "/model", "/challenger", "/admin/reload"} <= set(paths)
    assert service.get("/docs").status_code == 200


def test_a_category_never_seen_in_training_is_scored_and_flagged_in_the_answer_and_the_log(
        service: httpx.Client, new_rows: pd.DataFrame, spec: ProblemSpec, deployed_project: Path):
    record = as_records(new_rows.iloc[:1], spec)[0] | {"native_country": "Atlantis", "occupation": "Astronaut"}
    answer = service.post("/predict", json=record).json()
    assert answer["predictions"][0]["unseen_categories"] == {"native_country": "Atlantis", "occupation": "Astronaut"}
    ((flags,),) = logged(deployed_project, "SELECT unseen_categories FROM predictions WHERE request_id = ?", (answer["request_id"],))
    assert json.loads(flags) == {"native_country": "Atlantis", "occupation": "Astronaut"}


def test_missing_values_as_null_or_the_raw_marker_are_scored_like_training_rows(service: httpx.Client, new_rows: pd.DataFrame,
                                                                                spec: ProblemSpec):
    record = as_records(new_rows.iloc[:1], spec)[0]
    as_null = service.post("/predict", json=record | {"workclass": None}).json()["predictions"][0]
    as_marker = service.post("/predict", json=record | {"workclass": " ? "}).json()["predictions"][0]
    assert as_null["probability"] == as_marker["probability"]
    assert as_null["unseen_categories"] == {}


def test_every_row_is_logged_with_inputs_answer_version_and_latency(service: httpx.Client, new_rows: pd.DataFrame,
                                                                    spec: ProblemSpec, deployed_project: Path):
    records = as_records(new_rows.iloc[:3], spec)
    answer = service.post("/predict", json=records).json()
    rows = logged(deployed_project, "SELECT row, inputs, model_version, role, probability, decision, latency_ms, label "
                                    "FROM predictions WHERE request_id = ? ORDER BY row", (answer["request_id"],))
    assert [r[0] for r in rows] == [0, 1, 2]
    assert [json.loads(r[1]) for r in rows] == records
    assert {r[2] for r in rows} == {answer["model_version"]}
    assert {r[3] for r in rows} == {"champion"}
    assert [r[4] for r in rows] == [p["probability"] for p in answer["predictions"]]
    assert [r[5] for r in rows] == [p["decision"] for p in answer["predictions"]]
    assert all(r[6] > 0 for r in rows)
    assert {r[7] for r in rows} == {None}


def test_feedback_records_true_labels_by_request_id(service: httpx.Client, new_rows: pd.DataFrame, spec: ProblemSpec,
                                                    deployed_project: Path):
    answer = service.post("/predict", json=as_records(new_rows.iloc[:2], spec)).json()
    response = service.post("/feedback", json={"request_id": answer["request_id"], "labels": [">50K.", "<=50K"]})
    assert response.status_code == 200
    labels = logged(deployed_project, "SELECT label FROM predictions WHERE request_id = ? ORDER BY row", (answer["request_id"],))
    assert labels == [(">50K",), ("<=50K",)]


def test_feedback_for_an_unknown_request_a_wrong_count_or_an_unknown_label_is_refused(service: httpx.Client,
                                                                                      new_rows: pd.DataFrame, spec: ProblemSpec):
    answer = service.post("/predict", json=as_records(new_rows.iloc[:2], spec)).json()
    unknown = service.post("/feedback", json={"request_id": "nope", "labels": [">50K"]})
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    wrong_count = service.post("/feedback", json={"request_id": answer["request_id"], "labels": [">50K"]})
    assert wrong_count.status_code == 422 and "2 row(s)" in wrong_count.json()["detail"]
    wrong_label = service.post("/feedback", json={"request_id": answer["request_id"], "labels": ["rich", ">50K"]})
    assert wrong_label.status_code == 422 and "rich" in wrong_label.json()["detail"]



def test_metrics_are_prometheus_text_and_count_what_was_sent(service: httpx.Client, new_rows: pd.DataFrame, spec: ProblemSpec):
    def samples() -> dict[tuple[str, tuple], float]:
        text = service.get("/metrics").text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    before = samples()
    records = as_records(new_rows.iloc[:7], spec)
    for record in records[:3]:
        assert service.post("/predict", json=record).status_code == 200
    assert service.post("/predict", json=records[3:]).status_code == 200
    assert service.post("/predict", json={"age": "old"}).status_code == 422
    after = samples()

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("ml_service_requests_total", route="/predict", status="200") == 4
    assert grew("ml_service_requests_total", route="/predict", status="422") == 1
    assert grew("ml_service_request_latency_seconds_count", route="/predict") == 5
    assert grew("ml_service_rows_scored_total", role="champion") == 7
    champion = service.get("/model").json()["version"]
    assert any(name == "ml_service_model_info" and dict(labels)["version"] == champion for name, labels in after)
