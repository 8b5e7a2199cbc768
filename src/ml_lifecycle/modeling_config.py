"""Typed modeling configuration (`conf/base/parameters_modeling.yml`, key `modeling`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ml_lifecycle.estimators import Encoding, make_estimator
from ml_lifecycle.metrics import MetricName
from ml_lifecycle.spec import ProblemSpec, StrictModel


class ModelConfig(StrictModel):
    """One model: an estimator by import path, its params, its encoding and search space."""

    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)
    encoding: Encoding = "ordinal"
    search_space: dict[str, list[Any]] = Field(
        default_factory=dict, description="Param -> values to sample from; empty: no search."
    )
    early_stopping_rounds: int | None = Field(
        default=None, gt=0, description="Early stopping on the validation split (CatBoost)."
    )
    sanity_params: dict[str, Any] = Field(
        default_factory=dict, description="Overrides for the small-batch check, e.g. lifting regularisation."
    )
    learning_curve: bool = True

    @model_validator(mode="after")
    def _estimator_accepts_params(self) -> ModelConfig:
        make_estimator(self.estimator, self.params)
        make_estimator(self.estimator, self.params | self.sanity_params)
        for name, values in self.search_space.items():
            if not values:
                raise ValueError(f"search_space.{name} is empty")
            for value in values:
                make_estimator(self.estimator, self.params | {name: value})
        return self


class SearchConfig(StrictModel):
    """The hyper-parameter search budget, shared by every candidate with a search space."""

    trials: int = Field(default=8, gt=0, description="Sampled settings per candidate.")
    time_budget_seconds: float = Field(
        default=600, gt=0,
        description="Per candidate, trial fit seconds summed in sampling order; later trials are discarded. "
                    "A safety net: when it binds, results depend on machine speed.",
    )


class EnsembleConfig(StrictModel):
    """A soft-voting ensemble of the best candidates."""

    enabled: bool = True
    members: int = Field(default=3, ge=2)


class ChampionConstraints(StrictModel):
    """What a champion must satisfy beyond being best on the primary metric."""

    margin_over_baselines: float = Field(default=0.0, ge=0, description="In primary-metric units.")
    max_predict_ms_per_1000_rows: float = Field(
        default=1000, gt=0, description="Process CPU time, not wall time, so the load of the machine cannot decide eligibility."
    )
    require_sanity_pass: bool = True
    refit_on: Literal["train", "train_and_validation"] = Field(
        default="train_and_validation",
        description="Rows of the final fit. With validation, evaluation calibrates and thresholds on a train-only twin.",
    )


class SanityConfig(StrictModel):
    """The small-batch overfit check run before anything else."""

    batch_rows: int = Field(default=64, ge=8)
    min_train_accuracy: float = Field(default=0.95, gt=0, le=1)


RankingName = Literal["mutual_information", "importance", "wrapper", "consensus"]


class FeatureSubsetRule(StrictModel):
    """A subset of the features for the champion: the top `keep`, or all but the weakest `drop`, by one ranking."""

    method: RankingName
    keep: int | None = Field(default=None, gt=0)
    drop: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _keep_or_drop(self) -> FeatureSubsetRule:
        if (self.keep is None) == (self.drop is None):
            raise ValueError("set exactly one of keep (features kept) or drop (weakest features dropped)")
        return self


class WrapperBudget(StrictModel):
    """The wrapper's backward elimination: which model it refits and how much refitting it may do."""

    model: str | None = Field(
        default=None, description="A declared model (its tuned settings) refitted per subset; null: the champion.")
    max_rows: int | None = Field(
        default=None, gt=0, description="Stratified sample of train rows the wrapper refits on; null: all.")
    max_evaluations: int = Field(
        default=30, gt=0, description="Subsets scored by CV; the first step (drop each feature once) always runs.")
    max_seconds: float | None = Field(
        default=None, gt=0,
        description="A safety net: no new step starts after it; when it binds, results depend on speed. None: no time limit.")


class FeatureSelectionConfig(StrictModel):
    """Feature rankings (filter, embedded, wrapper), the CV effect of dropping the weakest, and an optional applied subset."""

    drop_weakest: list[int] = Field(
        default_factory=lambda: [2],
        description="k: CV of the champion without the consensus-weakest k features; a k that leaves none is skipped.")
    wrapper: WrapperBudget = WrapperBudget()
    apply: FeatureSubsetRule | None = Field(default=None, description="null: the champion keeps every feature.")

    @field_validator("drop_weakest")
    @classmethod
    def _positive(cls, ks: list[int]) -> list[int]:
        if any(k < 1 for k in ks):
            raise ValueError("drop_weakest counts features to drop: each at least 1")
        return sorted(set(ks))

    def problems_against(self, spec: ProblemSpec) -> list[str]:
        """Return every count of the applied subset the problem's features cannot meet, as `key: why`."""
        n, key, problems = len(spec.features), "modeling.feature_selection", []
        if self.apply and self.apply.keep is not None and self.apply.keep > n:
            problems.append(f"{key}.apply.keep: {self.apply.keep} is more than the problem's {n} features")
        if self.apply and self.apply.drop is not None and self.apply.drop >= n:
            problems.append(f"{key}.apply.drop: dropping {self.apply.drop} of the problem's {n} features keeps none")
        return problems


class ModelingConfig(StrictModel):
    """Baselines, candidates, CV, search, ensemble and champion rules."""

    primary_metric: MetricName = "log_loss"
    cv_folds: int = Field(default=5, ge=2)
    small_data_cv_repeats: int = Field(
        default=3, ge=1, description="Repeats of the stratified K-fold CV on small data (problem.split.small_data_rows).")
    baselines: dict[str, ModelConfig]
    candidates: dict[str, ModelConfig]
    search: SearchConfig = SearchConfig()
    ensemble: EnsembleConfig = EnsembleConfig()
    champion: ChampionConstraints = ChampionConstraints()
    sanity: SanityConfig = SanityConfig()
    learning_curve_fractions: list[float] = Field(default_factory=lambda: [0.1, 0.25, 0.5, 1.0])
    timing_rows: int = Field(default=1000, gt=0, description="Rows per predict-latency measurement.")
    feature_selection: FeatureSelectionConfig = FeatureSelectionConfig()


    @field_validator("learning_curve_fractions")
    @classmethod
    def _fractions(cls, fractions: list[float]) -> list[float]:
        if not fractions or any(not 0 < f <= 1 for f in fractions):
            raise ValueError("learning_curve_fractions must be in (0, 1]")
        return sorted(fractions)

    @model_validator(mode="after")
    def _names_unique(self) -> ModelingConfig:
        shared = set(self.baselines) & set(self.candidates)
        if shared or "ensemble" in set(self.baselines) | set(self.candidates):
            raise ValueError(f"model names must be unique and not 'ensemble': {sorted(shared)}")
        if not self.candidates:
            raise ValueError("declare at least one candidate")
        wrapper_model = self.feature_selection.wrapper.model
        if wrapper_model is not None and wrapper_model not in self.models():
            raise ValueError(f"feature_selection.wrapper.model {wrapper_model!r} is not a declared model; "
                             f"declared: {sorted(self.models())}")
        return self

    def problems_against(self, spec: ProblemSpec) -> list[str]:
        """Return every model whose declared rule (a pandas query) cannot select rows of the spec's columns, and every
        feature-selection count the spec's features cannot meet, as `key: why`."""
        rules = [f"modeling.{role}s.{name}.params.rule: {problem}" for name, (role, model) in self.models().items()
                 if isinstance(rule := model.params.get("rule"), str) and (problem := spec.query_problem(rule))]
        return rules + self.feature_selection.problems_against(spec)

    def models(self) -> dict[str, tuple[Literal["baseline", "candidate"], ModelConfig]]:
        """Return every declared model with its role, baselines first."""
        return {n: ("baseline", m) for n, m in self.baselines.items()} | {
            n: ("candidate", m) for n, m in self.candidates.items()
        }
