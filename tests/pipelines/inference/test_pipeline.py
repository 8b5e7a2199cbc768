"""`kedro run --pipeline=inference` end to end in the test environment."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from ml_lifecycle.rows import DataValidationError
from tests.conftest import REPO_ROOT, project_catalog, run_kedro

DEMO = REPO_ROOT / "data/01_raw/inference/adult_new_rows.csv"


def test_a_plain_run_scores_the_shipped_demo_file_into_the_default_outputs(test_project: Path):
    run_kedro(test_project, ["inference"])
    predictions = pd.read_csv(test_project / "data/test/07_model_output/inference_predictions.csv")
    rejects = pd.read_csv(test_project / "data/test/07_model_output/inference_predictions.csv.rejects.csv")
    assert len(predictions) == 201 and rejects["input_row"].tolist() == [200, 201]
    assert rejects["reasons"].tolist() == ["age: 'forty' is not a number", "age: -3.0 is below the minimum 0"]
    assert predictions.loc[predictions["input_row"] == 202, "unseen_categories"].item() == "native_country=Atlantis"
    summary = project_catalog(test_project).load("inference_summary")
    assert (summary["rows"], summary["scored"], summary["rejected"]) == (203, 201, 2)
    assert "deployment" in (test_project / "data/test/08_reporting/index_sections.json").read_text()


def test_input_and_output_files_come_from_runtime_parameters(test_project: Path, tmp_path: Path):
    input_path, output_path = tmp_path / "in.csv", tmp_path / "out" / "scored.csv"
    shutil.copyfile(DEMO, input_path)
    run_kedro(test_project, ["inference"], runtime_params={"input_path": str(input_path), "output_path": str(output_path)})
    scored = pd.read_csv(output_path)
    assert len(scored) == 201
    assert {"probability", "decision", "predicted_label", "model_version", "scored_at", "threshold"} <= set(scored.columns)
    assert len(pd.read_csv(f"{output_path}.rejects.csv")) == 2


def test_a_failed_run_leaves_the_earlier_output_whole_and_no_partial_file(test_project: Path, tmp_path: Path):
    output_path = tmp_path / "scored.csv"
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    shutil.copyfile(DEMO, good)
    bad.write_text("39, Private, 77516\n")
    run_kedro(test_project, ["inference"], runtime_params={"input_path": str(good), "output_path": str(output_path)})
    before = output_path.read_bytes()
    with pytest.raises(DataValidationError, match=r"bad\.csv: expected 15 columns .* or 14 without the label column, found 3"):
        run_kedro(test_project, ["inference"], runtime_params={"input_path": str(bad), "output_path": str(output_path)})
    assert output_path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "good.csv", "scored.csv", "scored.csv.rejects.csv"]


def test_a_file_mostly_rejected_fails_the_run_with_the_counts_and_keeps_the_earlier_output(test_project: Path, tmp_path: Path):
    output_path, good, bad = tmp_path / "scored.csv", tmp_path / "good.csv", tmp_path / "mostly_bad.csv"
    shutil.copyfile(DEMO, good)
    lines = DEMO.read_text().splitlines()[:10]
    bad.write_text("".join(line.replace(line.split(",")[0], "-7", 1) + "\n" for line in lines[:6]) + "\n".join(lines[6:]) + "\n")
    run_kedro(test_project, ["inference"], runtime_params={"input_path": str(good), "output_path": str(output_path)})
    before = output_path.read_bytes()
    with pytest.raises(DataValidationError, match=r"mostly_bad\.csv: 6 of 10 rows rejected \(60%; inference.max_reject_share "
                                                  r"allows 50%\), e\.g\. age: -7\.0 is below the minimum 0 \(6 rows\)"):
        run_kedro(test_project, ["inference"], runtime_params={"input_path": str(bad), "output_path": str(output_path)})
    assert output_path.read_bytes() == before
