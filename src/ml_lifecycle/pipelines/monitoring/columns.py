"""Column names shared by the monitoring steps, and the empty batch source they define."""

from __future__ import annotations

import pandas as pd

from ml_lifecycle.spec import ProblemSpec

BATCH, SOURCE, SCENARIO, DETAIL, BATCH_TIME, LABELLED = (
    "batch", "source", "scenario", "scenario_detail", "batch_time", "labelled")
BATCH_COLUMNS = [BATCH, SOURCE, SCENARIO, DETAIL, BATCH_TIME]
ERROR_COLUMNS = [BATCH, SOURCE, SCENARIO, DETAIL, "reason"]
TEST_COLUMNS = [BATCH, "test", "kind", "column", "value", "threshold", "passed", "severity", "description"]


def empty_source(spec: ProblemSpec) -> pd.DataFrame:
    """Return a batch source with no rows."""
    return pd.DataFrame(columns=[*spec.features, spec.target_column, *BATCH_COLUMNS])
