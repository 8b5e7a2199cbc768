"""Batch inference block by block (Dask) gives the pandas path's predictions, locally and on a real LocalCluster."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError

from ml_lifecycle import batch_scoring as nodes
from ml_lifecycle.compute import ComputeConfig
from ml_lifecycle.deployment import DeployedModel
from ml_lifecycle.partitions import RawPartitionsDataset, ScoredPartitionsDataset
from ml_lifecycle.pipelines.inference_partitioned import (
    create_pipeline as create_partitioned_pipeline,
)
from ml_lifecycle.pipelines.inference_partitioned import nodes as partitioned
from ml_lifecycle.rows import LINE_COLUMN, DataValidationError
from ml_lifecycle.spec import ProblemSpec
from tests.conftest import project_catalog, run_kedro
from tests.dask_cluster import local_cluster, separate_cluster
from tests.pipelines.data_processing.tiny_problem import HEADER, tiny_spec

CONFIG = nodes.InferenceConfig(input_path="in", output_path="out", rejects_path="out.rejects")
VARYING = ["scored_at"]  # when each block was scored


def raw_records(n: int) -> list[list[str]]:
    """Return `n` raw rows of the tiny problem, one in ten unusable (a word where a number belongs)."""
    rng = np.random.default_rng(0)
    return [[("forty" if i % 10 == 3 else str(rng.integers(18, 70))), str(rng.integers(20, 60)),
             rng.choice(["Private", "State-gov", "?"])] for i in range(n)]


def csv_text(records: list[list[str]], header: bool) -> str:
    """Return records as the lines of a raw file, with the header row when asked."""
    lines = ([",".join(HEADER[:3])] if header else []) + [",".join(r) for r in records]
    return "\n".join(lines) + "\n"


def score_in_blocks(path: Path, out: Path, deployed: DeployedModel, spec: ProblemSpec,
                    compute: ComputeConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Score `path` block by block (300-byte blocks) into `out`; return predictions, rejects and the summary read back."""
    blocks = RawPartitionsDataset(str(path), blocksize=300).load()
    output = ScoredPartitionsDataset(str(out))
    output.save(partitioned.score_partitions(blocks, deployed, spec, CONFIG, compute))
    summary = partitioned.summarise_partitions(output.load(), CONFIG)
    return pd.read_parquet(out / "predictions"), pd.read_parquet(out / "rejects"), summary


@pytest.mark.parametrize("header", [False, True])
@pytest.mark.parametrize("layout", ["one file", "folder of files"])
def test_block_scoring_gives_the_pandas_predictions(tmp_path, deployed, layout, header):
    spec = tiny_spec() if header else tiny_spec(raw={"column_names": HEADER})
    records = raw_records(200)
    whole = csv_text(records, header)
    source = tmp_path / "input"
    if layout == "one file":
        source.write_text(whole)
    else:
        source.mkdir()
        for number, start in enumerate(range(0, 200, 70)):
            (source / f"part-{number}.csv").write_text(csv_text(records[start:start + 70], header))
    predictions, rejects, summary = score_in_blocks(source, tmp_path / "out", deployed, spec, ComputeConfig())
    expected, expected_rejects, expected_summary = nodes.score_new_rows(whole.encode(), deployed, spec, CONFIG)
    assert summary["partitions"] > 3
    pd.testing.assert_frame_equal(predictions.drop(columns=VARYING), expected.drop(columns=VARYING), check_dtype=False)
    if layout == "one file":
        pd.testing.assert_frame_equal(rejects, expected_rejects, check_dtype=False)
    else:  # a reject's line is counted in its own file
        pd.testing.assert_frame_equal(rejects.drop(columns=LINE_COLUMN), expected_rejects.drop(columns=LINE_COLUMN),
                                      check_dtype=False)
        assert rejects[LINE_COLUMN].between(1, 71).all()
    for key in ("rows", "scored", "rejected", "positive_share", "low_confidence_share", "rows_with_unseen_categories"):
        assert summary[key] == pytest.approx(expected_summary[key], abs=1e-4), key


@contextmanager
def cluster_address(kind: str, folder: Path) -> Iterator[str]:
    """Yield the scheduler address of a LocalCluster in this process, or of a `dask scheduler` and two `dask worker`
    processes started separately on loopback."""
    if kind == "separate scheduler":
        with separate_cluster(folder) as address:
            yield address
    else:
        with local_cluster() as client:
            yield client.scheduler.address


@pytest.mark.parametrize("kind", ["local cluster", "separate scheduler"])
def test_block_scoring_on_a_cluster_gives_the_pandas_predictions(tmp_path, deployed, spec, kind):
    whole = csv_text(raw_records(200), header=False)
    (tmp_path / "input.csv").write_text(whole)
    expected, _, _ = nodes.score_new_rows(whole.encode(), deployed, spec, CONFIG)
    with cluster_address(kind, tmp_path) as address:
        predictions, _, summary = score_in_blocks(tmp_path / "input.csv", tmp_path / "out", deployed, spec,
                                                  ComputeConfig(scheduler=address))
    assert summary["scored"] == len(expected)
    pd.testing.assert_frame_equal(predictions.drop(columns=VARYING), expected.drop(columns=VARYING), check_dtype=False)


def parquet_table(text: str) -> pd.DataFrame:
    """Return header-less raw rows as a typed table, as a Parquet writer would hold them: whole-number columns as integers."""
    return pd.read_csv(io.StringIO(text), header=None, names=HEADER[:3], skipinitialspace=True, keep_default_na=False)


@pytest.mark.parametrize("layout", ["one file", "folder of files"])
def test_parquet_input_gives_the_predictions_of_the_same_rows_as_csv(tmp_path, deployed, spec, layout):
    records = raw_records(200)
    whole = csv_text(records, header=False)
    table = parquet_table(whole)
    assert pd.api.types.is_integer_dtype(table["Hours-Per-Week"])  # typed values, not the file's text
    if layout == "one file":
        source = tmp_path / "input.parquet"
        table.to_parquet(source, row_group_size=70)
    else:
        source = tmp_path / "input"
        source.mkdir()
        table.iloc[:120].to_parquet(source / "part-0.parquet", row_group_size=70)
        table.iloc[120:].to_parquet(source / "part-1.parquet")
        (source / "_SUCCESS").write_text("")  # a writer's marker file is skipped
    predictions, rejects, summary = score_in_blocks(source, tmp_path / "out", deployed, spec, ComputeConfig())
    expected, expected_rejects, _ = nodes.score_new_rows(whole.encode(), deployed, spec, CONFIG)
    assert summary["partitions"] == 3
    pd.testing.assert_frame_equal(predictions.drop(columns=VARYING), expected.drop(columns=VARYING), check_dtype=False)
    if layout == "one file":  # a reject's line is its row in its own file, as a header-less CSV line
        pd.testing.assert_frame_equal(rejects, expected_rejects, check_dtype=False)
    else:
        pd.testing.assert_frame_equal(rejects.drop(columns=LINE_COLUMN), expected_rejects.drop(columns=LINE_COLUMN),
                                      check_dtype=False)


def test_a_folder_mixing_parquet_and_text_is_refused(tmp_path):
    (tmp_path / "input").mkdir()
    parquet_table(csv_text(raw_records(5), header=False)).to_parquet(tmp_path / "input" / "a.parquet")
    (tmp_path / "input" / "b.csv").write_text(csv_text(raw_records(5), header=False))
    with pytest.raises(DatasetError, match="Parquet and other files mixed"):
        RawPartitionsDataset(str(tmp_path / "input")).load()


def test_a_failing_block_leaves_the_previous_output_whole(tmp_path, deployed, spec):
    source = tmp_path / "input.csv"
    source.write_text(csv_text(raw_records(100), header=False))
    score_in_blocks(source, tmp_path / "out", deployed, spec, ComputeConfig())
    before = sorted(p.name for p in (tmp_path / "out" / "predictions").iterdir())
    source.write_text(csv_text(raw_records(100) + [["forty", "40", "Private"]] * 30, header=False))
    with pytest.raises(DatasetError, match="rows rejected"):
        score_in_blocks(source, tmp_path / "out", deployed, spec, ComputeConfig())
    assert sorted(p.name for p in (tmp_path / "out" / "predictions").iterdir()) == before
    assert not (tmp_path / "out.partial").exists()


def test_the_partitioned_pipeline_reads_the_blocks_and_writes_partitions():
    pipeline = create_partitioned_pipeline()
    assert pipeline.inputs() == {"inference_partitions", "deployed_champion", "params:problem", "params:inference",
                                 "params:compute"}
    assert pipeline.outputs() == {"inference_index_section"}


def test_an_input_without_rows_fails_naming_it(tmp_path, deployed, spec):
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "empty.csv").write_text("\n\n")
    with pytest.raises(DataValidationError, match="no data rows"):
        partitioned.score_partitions(RawPartitionsDataset(str(tmp_path / "input")).load(), deployed, spec,
                                     CONFIG, ComputeConfig())


def test_kedro_run_of_the_partitioned_pipeline_scores_as_the_inference_pipeline(test_project):
    run_kedro(test_project, ["inference"])
    run_kedro(test_project, ["inference_partitioned"])
    expected = project_catalog(test_project).load("inference_predictions")  # CSV: floats re-parsed, '' read as NaN
    predictions = pd.read_parquet(test_project / "data" / "test" / "07_model_output" / "inference_partitioned" / "predictions")
    assert predictions["input_row"].tolist() == expected["input_row"].tolist()
    assert predictions["decision"].tolist() == expected["decision"].tolist()
    np.testing.assert_allclose(predictions["probability"], expected["probability"], rtol=1e-12)
    folder = test_project / "data" / "test" / "07_model_output" / "inference_partitioned"
    summary = project_catalog(test_project).load("inference_summary")
    assert (test_project / summary["output"]).resolve() == (folder / "predictions").resolve()  # published, not staged
    assert all((test_project / block["output"]).exists() and (test_project / block["rejects"]).exists()
               for block in json.loads((folder / "blocks.json").read_text()))
