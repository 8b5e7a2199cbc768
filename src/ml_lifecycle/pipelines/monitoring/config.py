"""Typed monitoring configuration (`conf/base/parameters_monitoring.yml`, key `monitoring`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator
from scipy.stats import norm

from ml_lifecycle.spec import ProblemSpec, StrictModel

# Distances, not p-values: a p-value test flags tiny differences on large batches and fires on
# about 5% of columns of every clean batch, so a drift share built on it is noise.
DistanceMethod = Literal["wasserstein", "jensenshannon", "psi", "hellinger", "kl_div", "ed"]
Severity = Literal["warning", "critical"]


class Clean(StrictModel):
    """Rows as they come."""

    kind: Literal["clean"]
    labelled: bool = Field(default=True, description="False: its labels never arrive.")

    def describe(self) -> str:
        """Return what the scenario does, for people."""
        return "rows as they come" + ("" if self.labelled else ", labels never arrive")


class CovariateShift(StrictModel):
    """Rows resampled toward a subpopulation (a pandas query on the features)."""

    kind: Literal["covariate_shift"]
    toward: str = Field(description="Pandas query picking the subpopulation, e.g. 'age >= 50'.")
    share: float = Field(gt=0, lt=1, description="Share of the batch drawn from the subpopulation.")
    labelled: bool = True

    def describe(self) -> str:
        """Return what the scenario does, for people."""
        return f"{self.share:.0%} of rows where {self.toward}"


class MissingSpike(StrictModel):
    """A share of one column's values go missing."""

    kind: Literal["missing_spike"]
    column: str
    share: float = Field(gt=0, le=1)
    labelled: bool = True

    def describe(self) -> str:
        """Return what the scenario does, for people."""
        return f"{self.share:.0%} of {self.column} set missing"


class UnitChange(StrictModel):
    """A numeric column arrives in another unit (every value times a factor)."""

    kind: Literal["unit_change"]
    column: str
    factor: float = Field(gt=0)
    labelled: bool = True

    def describe(self) -> str:
        """Return what the scenario does, for people."""
        return f"{self.column} x {self.factor:g}"


class UnseenCategory(StrictModel):
    """A share of one categorical column takes a value never seen in training."""

    kind: Literal["unseen_category"]
    column: str
    value: str
    share: float = Field(gt=0, le=1)
    labelled: bool = True

    def describe(self) -> str:
        """Return what the scenario does, for people."""
        return f"{self.share:.0%} of {self.column} = {self.value!r}"


class PriorShift(StrictModel):
    """Rows resampled to another class balance."""

    kind: Literal["prior_shift"]
    positive_share: float = Field(gt=0, lt=1)
    labelled: bool = True

    def describe(self) -> str:
        """Return what the scenario does, for people."""
        return f"positive share {self.positive_share:.0%}"


class ConceptDrift(StrictModel):
    """The meaning changes: labels flipped for a subgroup (a pandas query), features untouched."""

    kind: Literal["concept_drift"]
    subgroup: str = Field(description="Pandas query picking the rows whose labels flip.")
    labelled: Literal[True] = True  # concept drift is only visible through labels

    def describe(self) -> str:
        """Return what the scenario does, for people."""
        return f"labels flipped where {self.subgroup}"


Scenario = Annotated[
    Clean | CovariateShift | MissingSpike | UnitChange | UnseenCategory | PriorShift | ConceptDrift,
    Field(discriminator="kind"),
]


class SimulationConfig(StrictModel):
    """The demo's production batches: the held-out test split's rows cut into one batch per scenario."""

    enabled: bool = True
    batch_prefix: str = Field(default="week", pattern=r"^[A-Za-z0-9_-]+$")
    start: dt.date = Field(default=dt.date(2026, 1, 5), description="Date of the first batch.")
    period_days: int = Field(default=7, gt=0, description="Days between batches.")
    label_delay: int = Field(default=1, ge=0, description="Periods after its batch a batch's labels arrive.")
    as_of: dt.date | None = Field(
        default=None, description="The simulated today: labels due later have not arrived. null: the last batch's date."
    )
    scenarios: list[Scenario] | None = Field(
        default=None, description="One batch each, in order; null: generated from the spec and the held-out rows."
    )

    def problems_against(self, spec: ProblemSpec) -> list[str]:
        """Return every declared scenario's column or query that does not fit the problem spec, naming its key."""
        problems = []
        for index, scenario in enumerate(self.scenarios or []):
            key = f"monitoring.simulation.scenarios[{index}]"
            column = getattr(scenario, "column", None)
            if isinstance(scenario, UnitChange) and column not in spec.numeric_features:
                problems.append(f"{key}.column: {column!r} is not a numeric feature {spec.numeric_features}")
            if isinstance(scenario, UnseenCategory) and column not in spec.categorical_features:
                problems.append(f"{key}.column: {column!r} is not a categorical feature {spec.categorical_features}")
            if isinstance(scenario, MissingSpike) and column not in spec.features:
                problems.append(f"{key}.column: {column!r} is not a feature {spec.features}")
            for field in ("toward", "subgroup"):
                query = getattr(scenario, field, None)
                if query is not None and (problem := spec.query_problem(query)):
                    problems.append(f"{key}.{field}: {problem}")
        return problems


class DriftConfig(StrictModel):
    """How drift is measured per column type (Evidently methods) and judged (thresholds calibrated on the reference).

    A threshold left null is calibrated: the (1 - false_alarm_rate) quantile of the column's score
    over `resamples` clean batches of the size judged, drawn from the reference (calibration.py).
    A number declared here (per type, or per column) is used as is.
    """

    numeric_method: DistanceMethod = "wasserstein"
    numeric_threshold: float | None = Field(default=None, gt=0, description="null: calibrated per column.")
    categorical_method: DistanceMethod = "jensenshannon"
    categorical_threshold: float | None = Field(default=None, gt=0, description="null: calibrated per column.")
    per_column_method: dict[str, DistanceMethod] = Field(default_factory=dict)
    per_column_threshold: dict[str, float] = Field(default_factory=dict)
    prediction_method: DistanceMethod = "wasserstein"
    false_alarm_rate: float = Field(default=0.01, gt=0, lt=0.5, description="Per clean batch, for each calibrated limit.")
    resamples: int = Field(default=200, ge=20, description="Clean batches drawn per batch size to calibrate.")

    @model_validator(mode="after")
    def _wasserstein_is_numeric(self) -> DriftConfig:
        if self.categorical_method in ("wasserstein", "ed"):
            raise ValueError(f"categorical_method {self.categorical_method!r} works on numbers only")
        return self


class MaxTest(StrictModel):
    """Pass while the measured value stays at or below `max`."""

    max: float = Field(ge=0)
    severity: Severity = "critical"
    enabled: bool = True


class CalibratedMaxTest(MaxTest):
    """A drift test whose limit, when `max` is null, is calibrated on the reference (monitoring.drift.false_alarm_rate)."""

    max: float | None = Field(default=None, ge=0)


class MinTest(StrictModel):
    """Pass while the measured value stays at or above `min`."""

    min: float
    severity: Severity = "critical"
    enabled: bool = True


class PerformanceTest(StrictModel):
    """Pass while a labelled batch's ROC AUC stays above the released model's held-out ROC AUC less `max_drop`,
    less what sampling alone moves ROC AUC on a batch of this size (a one-sided bound at `confidence`).

    The bound uses Hanley and McNeil's (1982) standard error of ROC AUC for the batch's counts of
    positives and negatives, so a small batch is not judged as strictly as a large one. `min`, when
    set, is an absolute floor used instead.
    """

    max_drop: float = Field(default=0.05, ge=0, lt=1, description="Allowed fall from the release's held-out ROC AUC.")
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="Sampling bound: one-sided, at this confidence.")
    min: float | None = Field(default=None, ge=0, le=1, description="An absolute floor instead of the relative limit.")
    severity: Severity = "critical"
    enabled: bool = True

    def limit(self, released_auc: float | None, positives: int, negatives: int) -> float:
        """Return the lowest ROC AUC a batch with these label counts may show."""
        if self.min is not None:
            return self.min
        if released_auc is None:
            raise ValueError("monitoring.tests.roc_auc is relative to the champion's held-out ROC AUC, which its manifest "
                             "lacks; set monitoring.tests.roc_auc.min instead")
        if positives == 0 or negatives == 0:
            return released_auc - self.max_drop
        auc = released_auc
        q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
        variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (positives * negatives)
        return released_auc - self.max_drop - float(norm.ppf(self.confidence)) * variance**0.5


class SliceGapTest(MaxTest):
    """Largest recall gap between values of a slice column, among values with enough positives."""

    min_positives: int = Field(default=20, gt=0, description="Slice values with fewer are not compared.")


class ServiceTests(StrictModel):
    """The tests every day of the prediction service's traffic gets (from its request log)."""

    p99_latency_ms: MaxTest = Field(default=MaxTest(max=250, severity="warning"),
                                    description="99th percentile of POST /predict latency (arrival to answer), milliseconds.")
    error_rate: MaxTest = Field(default=MaxTest(max=0.01), description="Share of all requests answered with a 5xx status.")


class MonitoringTests(StrictModel):
    """The explicit tests every batch gets (Evidently's automatic tests are off)."""

    drifted_columns_share: CalibratedMaxTest = Field(description="Share of feature columns whose drift passes their threshold.")
    prediction_drift: CalibratedMaxTest = Field(description="Drift score of the predicted probability (an output metric).")
    missing_share: MaxTest = Field(description="Per feature column.")
    new_category_share: MaxTest = Field(description="Per categorical column: values never seen in the reference.")
    out_of_range_share: MaxTest = Field(description="Per numeric column: values outside the reference's range.")
    row_count: MinTest = Field(description="Input volume: rows in the batch.")
    roc_auc: PerformanceTest = Field(description="Labelled batches only: relative to the release's held-out ROC AUC.")
    slice_recall_gap: SliceGapTest = Field(description="Labelled batches only, per slice column.")


class EstimationConfig(StrictModel):
    """Performance estimated without labels (CBPE) for every batch: its sampling band and its alert."""

    draws: int = Field(default=200, ge=20, description="Label draws from the probabilities for the sampling band.")
    alert: bool = Field(default=True, description="Alert when the estimated ROC AUC falls below the tests.roc_auc limit.")
    min_labelled_rows: int = Field(
        default=100, gt=1, description="A partly labelled batch with this many labelled rows (both classes) is also judged on them."
    )


class LabelsConfig(StrictModel):
    """Labels that arrive after the predictions: files dropped into a folder, joined to the rows they label.

    A label file is a CSV with a header: the target column, a key, and optionally `labelled_at`.
    The key is `request_id` (and `row`, default 0) for the service's requests; for dropped-in
    batches it is `id_column` when the problem declares one, else `batch` and `row` (the
    0-based data row of the batch file).
    """

    folder: str = Field(default="01_raw/labels", description="Drop-in folder of label files, for messages (the catalog reads it).")
    id_column: str | None = Field(default=None, description="Column of dropped-in batch files that identifies a row.")


class LoopConfig(StrictModel):
    """The closed loop's monitoring side: when a shadow challenger is judged, and how long a new champion is watched."""

    shadow_labelled_rows: int = Field(default=300, gt=0, description="Labelled rows after it entered shadow before it is judged.")
    watch_batches: int = Field(default=2, gt=0, description="Batches after a promotion in which a performance alert rolls it back.")


class RetrainPolicy(StrictModel):
    """When the run recommends retraining."""

    on_performance_failure: bool = Field(default=True, description="Any labelled batch failing a critical performance test.")
    drifted_batches: int = Field(default=2, gt=0, description="Batches failing drift tests among the latest `window`...")
    window: int = Field(default=4, gt=0, description="...batches.")


class LargeBatchConfig(StrictModel):
    """A batch larger than memory (large_batch.py, pipeline monitoring_partitioned): its Evidently report's sample, its histograms."""

    sample_rows: int = Field(default=10_000, gt=0, description="Rows of the seeded sample the Evidently report is built on.")
    histogram_bins: int = Field(default=1000, ge=10, description="Bins per number column (exact drift when the reference "
                                                                  "has at most this many distinct values).")


class MonitoringConfig(StrictModel):
    """Batches, drift methods, tests, slices and the retrain policy."""

    production_folder: str = Field(description="Drop-in folder of production files, for messages (the catalog reads it).")
    simulation: SimulationConfig = SimulationConfig()
    drift: DriftConfig = DriftConfig()
    tests: MonitoringTests
    slices: list[str] | None = Field(default=None, description="Slice columns; null: the spec's slices and protected attributes.")
    data_summary: bool = Field(default=False, description="Add Evidently's DataSummaryPreset to each batch report (~2 s a batch).")
    retrain: RetrainPolicy = RetrainPolicy()
    estimation: EstimationConfig = EstimationConfig()
    labels: LabelsConfig = LabelsConfig()
    loop: LoopConfig = LoopConfig()
    service: ServiceTests = ServiceTests()
    large_batch: LargeBatchConfig = LargeBatchConfig()

    def problems_against(self, spec: ProblemSpec) -> list[str]:
        """Return every column or query the problem spec does not fit, as `key: why`."""
        problems = self.simulation.problems_against(spec)
        for key in ("per_column_method", "per_column_threshold"):
            unknown = [c for c in getattr(self.drift, key) if c not in spec.features]
            if unknown:
                problems.append(f"monitoring.drift.{key} names {unknown}, which are not features {spec.features}")
        if self.labels.id_column in (*spec.features, spec.target_column):
            problems.append(f"monitoring.labels.id_column {self.labels.id_column!r} is a feature or the target; "
                            "name a column that only identifies rows")
        sliceable = spec.features + list(spec.banded_columns)
        unknown = [c for c in self.slice_columns(spec) if c not in sliceable]
        if unknown:
            problems.append(f"monitoring.slices names {unknown}; slice by features or banded_columns {sliceable}")
        return problems

    def check_against(self, spec: ProblemSpec) -> None:
        """Raise naming the key of every column or query the problem spec does not fit, all at once."""
        problems = self.problems_against(spec)
        if problems:
            raise ValueError("\n".join(problems))

    def slice_columns(self, spec: ProblemSpec) -> list[str]:
        """Return the slice columns per-slice reports cover."""
        return spec.slice_columns if self.slices is None else self.slices
