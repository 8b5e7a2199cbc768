"""Column names shared by the monitoring steps, and the empty batch source they define."""

from __future__ import annotations

import pandas as pd

from ml_lifecycle.spec import ProblemSpec

BATCH, SOURCE, SCENARIO, DETAIL, BATCH_TIME, LABELLED = (
    "batch", "source", "scenario", "scenario_detail", "batch_time", "labelled")
# Every source row's key for late labels (`<batch>:<row>`, `<request id>:<row>` or the declared id), when its label came
# and from where (retraining reports label provenance and limits each source's share).
ROW_KEY, LABELLED_AT, LABEL_SOURCE = "row_key", "labelled_at", "label_source"
BATCH_COLUMNS = [BATCH, SOURCE, SCENARIO, DETAIL, BATCH_TIME, ROW_KEY, LABELLED_AT, LABEL_SOURCE]
LABEL_TIMES = ["predicted_at", "labelled_rows", "labelled_at"]  # per batch: what was known when
ERROR_COLUMNS = [BATCH, SOURCE, SCENARIO, DETAIL, "reason"]
TEST_COLUMNS = [BATCH, "test", "kind", "column", "value", "threshold", "passed", "severity", "description"]


def empty_source(spec: ProblemSpec) -> pd.DataFrame:
    """Return a batch source with no rows."""
    return pd.DataFrame(columns=[*spec.features, spec.target_column, *BATCH_COLUMNS])
