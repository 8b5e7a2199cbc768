"""A batch larger than memory: statistics and drift scores from Dask counts equal those of the rows in memory."""

from __future__ import annotations

from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from ml_lifecycle import batch_scoring
from ml_lifecycle.compute import ComputeConfig
from ml_lifecycle.evidently_glue import PROBABILITY
from ml_lifecycle.partitions import RawPartitionsDataset, ScoredPartitionsDataset
from ml_lifecycle.pipelines.inference_partitioned import nodes as partitioned
from ml_lifecycle.pipelines.monitoring import checks, large_batch
from ml_lifecycle.pipelines.monitoring.calibration import drift_score
from tests.conftest import project_catalog, run_kedro
from tests.dask_cluster import local_cluster
from tests.pipelines.inference.tiny_deployment import model_rows
from tests.pipelines.monitoring.tiny_monitoring import (
    headerless_spec,
    tiny_config,
    tiny_deployed,
)

CONFIG = tiny_config(drift={"resamples": 40}, large_batch={"sample_rows": 150})
ROWS = 900


def shifted_records(n: int) -> str:
    """Return `n` raw header-less rows, older and with a category the reference never saw, some values missing."""
    rng = np.random.default_rng(7)
    ages = rng.integers(30, 70, n)
    kinds = rng.choice(["Private", "State-gov", "Self-emp"], n, p=[0.5, 0.3, 0.2])
    lines = [f"{'?' if i % 25 == 0 else age},{rng.integers(20, 60)},{'?' if i % 40 == 0 else kind}"
             for i, (age, kind) in enumerate(zip(ages, kinds, strict=True))]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """The shifted batch scored block by block into Parquet parts, and the scored reference."""
    folder = tmp_path_factory.mktemp("large_batch")
    spec, deployed = headerless_spec(), tiny_deployed()
    (folder / "batch.csv").write_text(shifted_records(ROWS))
    config = batch_scoring.InferenceConfig(input_path="batch.csv", output_path="out", rejects_path="rejects")
    blocks = RawPartitionsDataset(str(folder / "batch.csv"), blocksize=2000).load()
    ScoredPartitionsDataset(str(folder / "out")).save(partitioned.score_partitions(blocks, deployed, spec, config,
                                                                                   ComputeConfig()))
    reference = checks.score_reference(model_rows(300, 2), deployed, spec)
    return folder / "out" / "predictions", reference


@pytest.fixture(scope="module")
def judged(scored: tuple[Path, pd.DataFrame]) -> dict:
    """The scored batch as a Dask dataframe, counted once on the local scheduler and judged against the reference."""
    predictions, reference = scored
    spec = headerless_spec()
    batch = dd.read_parquet(predictions)
    counts = large_batch.count_large_batch(batch, reference, CONFIG, spec, ComputeConfig())
    statistics, summary = large_batch.judge_large_batch(counts, reference, CONFIG, spec)
    return {"batch": batch, "counts": counts, "statistics": statistics, "summary": summary}


def test_counts_give_the_statistics_and_drift_scores_of_the_whole_batch(scored, judged):
    predictions, reference = scored
    spec = headerless_spec()
    batch, statistics, summary = judged["batch"], judged["statistics"], judged["summary"]
    whole = large_batch.typed_batch(pd.read_parquet(predictions), spec)
    table = statistics.set_index("column")
    assert batch.npartitions > 3 and summary["rows"] == len(whole) == table.loc["age", "rows"]
    for column in [*spec.features, PROBABILITY]:
        assert table.loc[column, "missing"] == whole[column].isna().sum(), column
    assert table.loc["age", "missing"] > 0 and table.loc["work_class", "missing"] > 0
    for column in ["age", "hours_per_week", PROBABILITY]:
        values = whole[column].dropna()
        assert table.loc[column, "mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert table.loc[column, "std"] == pytest.approx(values.std(ddof=0), rel=1e-9)
        assert (table.loc[column, "min"], table.loc[column, "max"]) == (values.min(), values.max())
    # Whole numbers the reference also holds: one value per bin, so quantiles are exact.
    assert table.loc["age", ["p05", "p50", "p95"]].tolist() == np.quantile(
        whole["age"].dropna(), [0.05, 0.5, 0.95], method="inverted_cdf").tolist()
    shares = whole["work_class"].value_counts(normalize=True)
    assert table.loc["work_class", "top"] == shares.idxmax()
    assert table.loc["work_class", "unseen_share"] == pytest.approx(shares["Self-emp"])
    for column, numeric in large_batch.judged_columns(CONFIG, spec).items():
        exact = drift_score(reference[column], whole[column], numeric, large_batch.FROM_COUNTS[numeric])
        # Probabilities fall between the reference's values: each bin's batch values are taken at their mean.
        assert table.loc[column, "drift_score"] == pytest.approx(exact, abs=1e-9 if column != PROBABILITY else 0.01), column
    assert table.loc["work_class", "drifted"] and table.loc["age", "drifted"]
    assert summary["dataset_drift"] and set(summary["drifted_columns"]) >= {"age", "work_class"}
    assert (table["drifted"] == (table["drift_score"] >= table["threshold"])).all()


def test_a_cluster_counts_what_the_local_scheduler_counts(scored):
    predictions, reference = scored
    spec = headerless_spec()
    local = large_batch.judge_large_batch(
        large_batch.count_large_batch(dd.read_parquet(predictions), reference, CONFIG, spec, ComputeConfig()),
        reference, CONFIG, spec)[0]
    with local_cluster() as client:
        counts = large_batch.count_large_batch(dd.read_parquet(predictions), reference, CONFIG, spec,
                                               ComputeConfig(scheduler=client.scheduler.address))
    pd.testing.assert_frame_equal(large_batch.judge_large_batch(counts, reference, CONFIG, spec)[0], local)


def test_the_sample_is_seeded_declared_and_independent_of_partitioning(scored):
    predictions, reference = scored
    spec = headerless_spec()
    samples = []
    for batch in (dd.read_parquet(predictions), dd.from_pandas(pd.read_parquet(predictions), npartitions=1)):
        counts = large_batch.count_large_batch(batch, reference, CONFIG, spec, ComputeConfig())
        samples.append(large_batch.sample_large_batch(batch, counts, CONFIG, spec, ComputeConfig()))
    whole = large_batch.typed_batch(pd.read_parquet(predictions), spec)
    assert len(samples[0]) == CONFIG.large_batch.sample_rows
    pd.testing.assert_frame_equal(samples[0], samples[1])
    assert len(samples[0].merge(whole.drop_duplicates(), how="inner")) == len(samples[0])  # rows of the batch, whole
    assert not samples[0][PROBABILITY].equals(whole[PROBABILITY].head(len(samples[0])))  # drawn, not the first rows


def test_the_report_states_the_sample_and_batch_sizes(scored, judged):
    _, reference = scored
    spec = headerless_spec()
    batch, counts, summary = judged["batch"], judged["counts"], judged["summary"]
    sample = large_batch.sample_large_batch(batch, counts, CONFIG, spec, ComputeConfig())
    page = large_batch.report_large_batch_sample(sample, reference, summary, CONFIG, spec)
    assert f"seeded sample of 150 rows (monitoring.large_batch.sample_rows, seed {spec.seed}) of a batch of {ROWS:,} rows" in page
    assert "Verdict on all 900 rows, from counts: drift" in page
    assert "<html" in page.lower() and len(page) > 100_000  # Evidently's own page, not only the note


def test_a_drift_measure_counts_cannot_give_fails_naming_the_column():
    config = tiny_config(drift={"per_column_method": {"age": "psi"}})
    with pytest.raises(ValueError, match="age: psi"):
        large_batch.judged_columns(config, headerless_spec())


def test_the_large_batch_pipeline_reads_the_scored_parts_and_writes_the_reports():
    pipeline = large_batch.create_pipeline()
    assert pipeline.inputs() == {"partitioned_predictions", "monitoring_reference", "deployed_champion", "params:monitoring",
                                 "params:problem", "params:compute"}
    assert pipeline.outputs() == {"large_batch_statistics", "large_batch_report"}
    assert "large_batch_summary" in pipeline.all_outputs()  # saved, and stated on the report


def test_kedro_run_monitors_the_partitioned_predictions_and_publishes_the_report(test_project):
    run_kedro(test_project, ["inference_partitioned"])
    run_kedro(test_project, ["monitoring_partitioned"])
    catalog = project_catalog(test_project)
    spec = catalog.load("params:problem")
    predictions = pd.read_parquet(test_project / "data" / "test" / "07_model_output" / "inference_partitioned" / "predictions")
    summary = catalog.load("large_batch_summary")
    statistics = catalog.load("large_batch_statistics").set_index("column")
    assert summary["rows"] == len(predictions) and summary["sample_rows"] == min(len(predictions), 10_000)
    assert set(statistics.index) == {*spec.features, PROBABILITY}
    assert statistics.loc[PROBABILITY, "mean"] == pytest.approx(predictions["probability"].mean())
    page = (test_project / "data" / "test" / "08_reporting" / "monitoring" / "large_batch.html").read_text()
    assert f"of a batch of {len(predictions):,} rows" in page
