"""Bad requests get a 4xx naming what is wrong, never a 500, and the service stays healthy afterwards."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pandas as pd
import pytest

from ml_lifecycle.spec import ProblemSpec

from .conftest import as_records


@pytest.fixture
def good(new_rows: pd.DataFrame, spec: ProblemSpec) -> dict[str, Any]:
    """A valid request row."""
    return as_records(new_rows.iloc[:1], spec)[0]


def changed(row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Return a copy of `row` with fields replaced."""
    return row | changes


def without(row: dict[str, Any], field: str) -> dict[str, Any]:
    """Return a copy of `row` without `field`."""
    return {k: v for k, v in row.items() if k != field}


# (case, body maker, expected status, text the message must contain)
JSON_CASES = [
    ("missing field", lambda r: without(r, "age"), 422, "age: Field required"),
    ("wrong type for a number", lambda r: changed(r, age="forty"), 422, "age: Input should be a valid number"),
    ("number as text", lambda r: changed(r, hours_per_week="40"), 422, "hours_per_week: Input should be a valid number"),
    ("wrong type for a category", lambda r: changed(r, workclass=7), 422, "workclass: Input should be a valid string"),
    ("impossible value", lambda r: changed(r, age=-3), 422, "age: Input should be greater than or equal to 0"),
    ("beyond the upper bound", lambda r: changed(r, hours_per_week=200), 422, "hours_per_week: Input should be less than or equal to 168"),
    ("unknown extra field", lambda r: changed(r, fnlwgt=77516), 422, "fnlwgt: Extra inputs are not permitted"),
    ("overlong text", lambda r: changed(r, occupation="x" * 101), 422, "occupation: String should have at most 100 characters"),
    ("control character", lambda r: changed(r, workclass="Priv\x00ate"), 422, "workclass: Value error, holds control character U+0000"),
    ("beyond the magnitude limit", lambda r: changed(r, capital_gain=1e308), 422, "capital_gain: Input should be less than or equal to"),
    ("bad row inside a list", lambda r: [r, changed(r, age=None, sex=3)], 422, "rows[1].sex: Input should be a valid string"),
    ("empty list", lambda r: [], 422, "rows: List should have at least 1 item"),
    ("a bare number", lambda r: 42, 422, "Input should be a valid dictionary"),
]


@pytest.mark.parametrize(("case", "body", "status", "message"), JSON_CASES, ids=[c[0] for c in JSON_CASES])
def test_a_bad_json_request_is_answered_with_422_naming_the_field(service: httpx.Client, good: dict[str, Any], case: str,
                                                                  body, status: int, message: str):
    response = service.post("/predict", json=body(good))
    assert response.status_code == status
    assert any(message in problem for problem in response.json()["problems"]), response.json()
    assert service.get("/health").json()["status"] == "ok"


# Bodies no JSON encoder would produce: NaN and infinity literals, broken syntax, non-JSON content.
RAW_CASES = [
    ("NaN", '"age": NaN', 422, "age: Input should be a finite number"),
    ("infinity", '"capital_gain": Infinity', 422, "capital_gain: Input should be a finite number"),
    ("negative infinity", '"capital_loss": -Infinity', 422, "capital_loss: Input should be a finite number"),
    ("malformed JSON", '"age": 39,,', 422, "malformed JSON at character"),
]


@pytest.mark.parametrize(("case", "fragment", "status", "message"), RAW_CASES, ids=[c[0] for c in RAW_CASES])
def test_non_finite_numbers_and_malformed_json_are_answered_with_422(service: httpx.Client, good: dict[str, Any], case: str,
                                                                     fragment: str, status: int, message: str):
    others = ", ".join(f'"{k}": {json.dumps(v)}' for k, v in good.items() if k not in fragment)
    response = service.post("/predict", content=f"{{{fragment}, {others}}}", headers={"content-type": "application/json"})
    assert response.status_code == status
    assert any(message in problem for problem in response.json()["problems"]), response.json()
    assert service.get("/health").json()["status"] == "ok"


def test_a_body_that_is_not_json_is_answered_with_422(service: httpx.Client):
    response = service.post("/predict", content=b"age=39&sex=Male", headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 422
    assert response.json()["problems"]
    assert service.get("/health").json()["status"] == "ok"


def test_a_huge_payload_is_refused_with_413_before_parsing(service: httpx.Client, good: dict[str, Any]):
    response = service.post("/predict", json=[good] * 20_000)
    assert response.status_code == 413
    assert "serving.max_body_bytes" in response.json()["detail"]
    assert service.get("/health").json()["status"] == "ok"


def test_a_streamed_payload_without_length_is_refused_with_413_once_it_passes_the_limit(service: httpx.Client):
    def chunks():
        yield b"["
        for _ in range(20_000):
            yield b'{"age": 39.0, "workclass": "Private", "education_num": 13.0, "marital_status": "Never-married"},'
        yield b"{}]"

    response = service.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert service.get("/health").json()["status"] == "ok"


def test_more_rows_than_the_limit_are_refused_with_413(service: httpx.Client, good: dict[str, Any]):
    response = service.post("/predict", json=[good] * 1001)
    assert response.status_code == 413
    assert "serving.max_rows" in response.json()["detail"]


def test_unknown_paths_and_methods_are_4xx(service: httpx.Client):
    assert service.get("/predict").status_code == 405
    assert service.get("/nowhere").status_code == 404
    assert service.post("/feedback", json={"request_id": "x"}).status_code == 422


def test_an_error_repeats_at_most_the_start_of_a_huge_value_it_refuses(service: httpx.Client):
    answer = service.post("/feedback", json={"request_id": "x", "labels": ["y" * 500_000, "maybe", "no", "perhaps"]})
    assert answer.status_code == 422 and len(answer.content) < 1_000
    detail = answer.json()["detail"]
    assert detail.startswith(f"labels '{'y' * 40}... (500000 characters)', 'maybe', 'no' and 1 more are not among")
