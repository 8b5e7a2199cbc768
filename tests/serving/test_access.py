"""Access control: /admin/* and /feedback need the service's bearer token; one reload at a time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pandas as pd
import pytest

from ml_lifecycle.spec import ProblemSpec

from .conftest import SERVICE_TOKEN, as_records

PROTECTED = [("post", "/admin/reload", None), ("post", "/admin/drain", None),
             ("post", "/feedback", {"request_id": "x", "labels": ["<=50K"]})]


def anonymous(service: httpx.Client, token: str | None = None) -> httpx.Client:
    """Return a client of the same service that sends `token` (or none) instead of the operator's."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=service.base_url, timeout=60, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED, ids=[p for _, p, _ in PROTECTED])
def test_a_protected_route_refuses_a_missing_token_with_401_and_a_wrong_one_with_403(service: httpx.Client, method, path, body):
    with anonymous(service) as nobody, anonymous(service, "guess") as guesser:
        missing = getattr(nobody, method)(path, json=body)
        wrong = getattr(guesser, method)(path, json=body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 403 and wrong.json()["detail"] == "wrong token"


def test_the_right_token_passes_and_predict_stays_open_by_default(service: httpx.Client, new_rows: pd.DataFrame,
                                                                  spec: ProblemSpec):
    with anonymous(service) as nobody, anonymous(service, SERVICE_TOKEN) as operator:
        answer = nobody.post("/predict", json=as_records(new_rows.iloc[:1], spec)[0])
        assert answer.status_code == 200
        labelled = operator.post("/feedback", json={"request_id": answer.json()["request_id"], "labels": ["<=50K"]})
        assert labelled.status_code == 200
        assert operator.post("/admin/drain").status_code == 200


def test_only_one_reload_runs_at_a_time(service: httpx.Client):
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda _: service.post("/admin/reload").status_code, range(6)))
    assert set(statuses) <= {200, 429} and 200 in statuses and 429 in statuses, statuses
