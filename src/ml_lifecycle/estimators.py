"""Model building blocks: estimators declared in config, preprocessing inside each model, the rule baseline and the deployed model.

Every model is one scikit-learn-compatible object whose `predict_proba` takes the spec's model
columns as `data_processing` outputs them; preprocessing lives inside it, so it is fitted
inside each CV fold only and travels with the model to inference and serving.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from ml_lifecycle.spec import ProblemSpec

Encoding = Literal["onehot_scaled", "ordinal", "native", "none"]


def resolve_estimator_class(path: str) -> type:
    """Return the class named by a dotted import path, or raise naming the path."""
    module_name, _, class_name = path.rpartition(".")
    try:
        estimator_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ValueError(f"estimator {path!r} cannot be imported ({error})") from None
    if not hasattr(estimator_class, "fit") or not hasattr(estimator_class, "predict_proba"):
        raise ValueError(f"estimator {path!r} is not a classifier with fit and predict_proba")
    return estimator_class


def make_estimator(path: str, params: dict[str, Any]) -> BaseEstimator:
    """Return the declared estimator with its params, checked by the estimator's own validation."""
    estimator_class = resolve_estimator_class(path)
    try:
        estimator = estimator_class(**params)
        if hasattr(estimator, "_validate_params"):  # scikit-learn's parameter constraints
            estimator._validate_params()
        elif estimator_class.__module__.startswith("catboost"):
            # CatBoost checks values only when training starts; its checker runs that step now.
            from catboost._catboost import _check_train_params  # noqa: PLC0415

            _check_train_params(estimator.get_params())
    except Exception as error:  # each library raises its own type; all mean a bad parameter
        raise ValueError(f"estimator {path!r} rejects params {params}: {error}") from None
    return estimator


def _preprocessor(encoding: Encoding, spec: ProblemSpec) -> ColumnTransformer:
    """Return the column transformer for an encoding; categorical columns come first."""
    numeric = [c for c in spec.model_columns() if c not in spec.categorical_features]
    categorical = spec.categorical_features
    if encoding == "onehot_scaled":
        encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=10, sparse_output=False)
        numeric_step: Any = StandardScaler()
    else:
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
        numeric_step = "passthrough"
    return ColumnTransformer(
        [("categorical", encoder, categorical), ("numeric", numeric_step, numeric)],
        verbose_feature_names_out=False,
    )


def build_model(path: str, params: dict[str, Any], encoding: Encoding, spec: ProblemSpec) -> BaseEstimator:
    """Return an unfitted model (preprocessing + estimator) that takes the spec's model columns."""
    estimator = make_estimator(path, params)
    if encoding == "native":
        # CatBoost-style estimators read categorical columns by name, untouched.
        estimator.set_params(cat_features=spec.categorical_features)
        return Pipeline([("columns", ColumnSelector(spec.model_columns())), ("catboost_input", CatBoostInput()),
                         ("estimator", estimator)])
    if encoding == "none":
        return Pipeline([("columns", ColumnSelector(spec.model_columns())), ("estimator", estimator)])
    if "categorical_features" in estimator.get_params() and encoding == "ordinal":
        # HistGradientBoosting: treat the ordinal codes of the leading categorical block as categories.
        estimator.set_params(categorical_features=list(range(len(spec.categorical_features))))
    return Pipeline(
        [
            ("columns", ColumnSelector(spec.model_columns())),
            ("preprocess", _preprocessor(encoding, spec)),
            ("estimator", estimator),
        ]
    )


def unfitted_copy(model: BaseEstimator) -> BaseEstimator:
    """Return an independent copy of an unfitted model.

    sklearn's `clone` refuses CatBoost, whose `get_params` returns a copy of `cat_features`;
    a deep copy of an unfitted model is the same fresh estimator.
    """
    return copy.deepcopy(model)


class ColumnSelector(BaseEstimator):
    """Keep the model columns, in order, so callers may pass wider frames (target, slices)."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns

    def fit(self, X: pd.DataFrame, y: Any = None) -> ColumnSelector:
        """Check that the declared columns are present."""
        self.transform(X)
        return self

    def transform(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
        """Return the declared columns of `X`, raising naming any that are missing.

        An array is taken as rows already in the declared column order (the service's one-row path).
        """
        if isinstance(X, np.ndarray):
            if X.ndim != 2 or X.shape[1] != len(self.columns):
                raise ValueError(f"model input array has shape {X.shape}; expected (rows, {len(self.columns)}) in the order {self.columns}")
            return X
        if X.columns.tolist() == self.columns:  # the service's rows: selecting would only copy (~0.6 ms a call)
            return X
        absent = [c for c in self.columns if c not in X.columns]
        if absent:
            raise ValueError(f"model input lacks column(s) {absent}")
        return X[self.columns]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Return the selected column names."""
        return np.asarray(self.columns, dtype=object)


class CatBoostInput(BaseEstimator):
    """Hand CatBoost the input form it reads fastest; the probabilities are identical.

    CatBoost reads a pandas-3 string column value by value. For a few rows, a plain object array
    is about 4x faster; for many, string columns as pandas categories (each distinct value read
    once) are about 1.5x faster. The estimator always learns from the DataFrame as it is.
    """

    def __init__(self, max_array_rows: int = 64) -> None:
        self.max_array_rows = max_array_rows

    def fit(self, X: pd.DataFrame, y: Any = None) -> CatBoostInput:
        """Nothing to learn."""
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None) -> pd.DataFrame:
        """Return `X` unchanged: the estimator learns from the DataFrame (its column names and categories)."""
        return X

    def transform(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
        """Return a few rows as an object array, many rows with their string columns as categories (arrays pass)."""
        if isinstance(X, np.ndarray):
            return X
        if len(X) <= self.max_array_rows:
            return X.to_numpy(dtype=object)
        text = [c for c in X.columns if pd.api.types.is_string_dtype(X[c])]
        return X.astype(dict.fromkeys(text, "category")) if text else X

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Return the input names: columns pass through in order."""
        return np.asarray(input_features, dtype=object)


class RuleClassifier(ClassifierMixin, BaseEstimator):
    """A human rule (a pandas query) as a classifier: the positive rate of rows it picks or not.

    No library estimator turns a declared rule into probabilities; learning the two rates on
    the training rows makes the rule a fair, proper-scoring baseline.
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {"rule": [str]}

    def __init__(self, rule: str = "") -> None:
        self.rule = rule

    def _matches(self, X: pd.DataFrame) -> np.ndarray:
        try:
            return X.eval(self.rule).to_numpy(dtype=bool)
        except Exception as error:
            raise ValueError(f"rule {self.rule!r} cannot be evaluated on the features: {error}") from None

    def fit(self, X: pd.DataFrame, y: Any) -> RuleClassifier:
        """Learn the positive rate among rows the rule picks and among the rest."""
        picked, y = self._matches(X), np.asarray(y)
        prior = y.mean()
        self.rate_if_true_ = float(y[picked].mean()) if picked.any() else prior
        self.rate_if_false_ = float(y[~picked].mean()) if (~picked).any() else prior
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return [P(negative), P(positive)] from the rule's learned rates."""
        check_is_fitted(self, "rate_if_true_")
        positive = np.where(self._matches(X), self.rate_if_true_, self.rate_if_false_)
        return np.column_stack([1 - positive, positive])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Return the rule's decision at 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class OneFeatureRuleClassifier(RuleClassifier):
    """The best one-feature rule found on the training rows: the heuristic baseline of a problem that declares none.

    Candidates are `column >= t` for each numeric column at its deciles and `column == value` for
    each categorical column's most frequent values; the rule whose two learned rates give the lowest
    training log loss wins (`rule_`). Written here because no library estimator returns a readable
    query; a depth-one decision tree finds a similar split but not a rule a person can read back.
    """

    max_values: ClassVar[int] = 20

    def __init__(self) -> None:
        super().__init__(rule="")

    def _matches(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "rule_")
        return X.eval(self.rule_).to_numpy(dtype=bool)

    def fit(self, X: pd.DataFrame, y: Any) -> OneFeatureRuleClassifier:
        """Find the best rule on `X`, then learn its two rates."""
        y = np.asarray(y, dtype=float)
        best, best_loss = None, np.inf
        for rule, picked in _candidate_rules(X, self.max_values):
            loss = _two_rate_log_loss(picked, y)
            if loss < best_loss:
                best, best_loss = rule, loss
        if best is None:
            raise ValueError("no one-feature rule could be formed: every column is constant")
        self.rule_ = best
        return super().fit(X, y)


def _candidate_rules(X: pd.DataFrame, max_values: int) -> list[tuple[str, np.ndarray]]:
    """Return readable one-feature rules with the rows each picks."""
    rules = []
    for column in X.columns:
        values = X[column]
        if pd.api.types.is_numeric_dtype(values):
            for cut in np.unique(np.nanquantile(values.to_numpy(dtype=float), np.linspace(0.1, 0.9, 9))):
                picked = (values >= cut).to_numpy()
                if 0 < picked.sum() < len(values):
                    rules.append((f"`{column}` >= {cut:.6g}", picked))
        else:
            for value in values.value_counts().index[:max_values]:
                picked = (values == value).to_numpy()
                if picked.sum() < len(values):
                    rules.append((f"`{column}` == {str(value)!r}", picked))
    return rules


def _two_rate_log_loss(picked: np.ndarray, y: np.ndarray) -> float:
    """Return the training log loss of predicting each side's positive rate."""
    loss = 0.0
    for side in (picked, ~picked):
        rate = np.clip(y[side].mean(), 1e-6, 1 - 1e-6)
        loss -= (y[side] * np.log(rate) + (1 - y[side]) * np.log(1 - rate)).sum()
    return loss / len(y)


class SoftVotingEnsemble(ClassifierMixin, BaseEstimator):
    """The mean of fitted members' probabilities (each member keeps its own preprocessing).

    scikit-learn's VotingClassifier refits members on one shared input matrix; our members each
    carry their own preprocessing, so averaging fitted pipelines is the direct form.
    """

    def __init__(self, members: list[tuple[str, BaseEstimator]] | None = None) -> None:
        self.members = members

    def fit(self, X: pd.DataFrame, y: Any) -> SoftVotingEnsemble:
        """Fit a clone of every member."""
        self.fitted_members_ = [(name, unfitted_copy(model).fit(X, y)) for name, model in self.members]
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return the members' mean probabilities."""
        check_is_fitted(self, "fitted_members_")
        return np.mean([model.predict_proba(X) for _, model in self.fitted_members_], axis=0)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Return the decision at 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class ColumnSubsetClassifier(ClassifierMixin, BaseEstimator):
    """A model fitted on some model columns that still takes all of them: feature selection applied behind one interface.

    Callers (bundle, service, evaluation) pass every model column, as a frame or, on the service's
    fast path, as an object array in `input_columns` order; only `columns` reach the model.
    """

    def __init__(self, model: Any = None, columns: list[str] | None = None, input_columns: list[str] | None = None) -> None:
        self.model = model
        self.columns = columns
        self.input_columns = input_columns

    def _subset(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
        """Return the kept columns of a frame (by name) or of an array of every input column (by position)."""
        if isinstance(X, np.ndarray):
            ColumnSelector(self.input_columns).transform(X)  # checks the shape, naming the expected order
            return X[:, [self.input_columns.index(c) for c in self.columns]]
        return ColumnSelector(self.columns).transform(X)

    def fit(self, X: pd.DataFrame, y: Any) -> ColumnSubsetClassifier:
        """Fit a copy of the model on the kept columns."""
        self.model_ = unfitted_copy(self.model).fit(self._subset(X), y)
        return self

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    @property
    def fitted_members_(self) -> list[tuple[str, BaseEstimator]]:
        """The fitted model(s) inside, as an ensemble lists its members: importance checks read them."""
        check_is_fitted(self, "model_")
        return getattr(self.model_, "fitted_members_", None) or [("champion", self.model_)]

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Return [P(negative), P(positive)] of the model on the kept columns."""
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(self._subset(X))

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Return the decision at 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def model_scores(model: BaseEstimator, X: pd.DataFrame) -> np.ndarray:
    """Return what a calibrator maps to probabilities: the decision function when the model has one, else P(positive).

    This is the choice scikit-learn's CalibratedClassifierCV makes.
    """
    if hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(X), dtype=float)
    return model.predict_proba(X)[:, 1]


class ScoreColumn(ClassifierMixin, BaseEstimator):
    """Already computed scores (column 0 of X) seen as a fitted classifier's positive-class output.

    It lets scikit-learn's own calibrators learn from a model's held-out scores without scoring
    the model again, and lets one fitted calibrator serve another fitted copy of the model.
    """

    def fit(self, X: Any, y: Any) -> ScoreColumn:
        """Record the classes; there is nothing to learn."""
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Return [1 - s, s] for the scores s in column 0 (calibrators read column 1 only)."""
        positive = np.asarray(X, dtype=float)[:, 0]
        return np.column_stack([1 - positive, positive])

    def predict(self, X: Any) -> np.ndarray:
        """Return the decision at 0.5 (scikit-learn requires a classifier to predict)."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def calibration_bound(rows: int) -> float:
    """Return how near 0 or 1 a calibrator learned on `rows` rows may go: 1 / (rows + 2), Laplace's rule of succession.

    Isotonic regression outputs exactly 0 or 1 at the ends of its range; no finite sample supports
    that certainty, and one such wrong answer costs log loss without bound.
    """
    return 1.0 / (rows + 2)


def score_calibrator(method: str) -> CalibratedClassifierCV:
    """Return an unfitted scikit-learn calibrator ('isotonic', 'sigmoid', 'temperature') of score columns."""
    return CalibratedClassifierCV(FrozenEstimator(ScoreColumn().fit(None, None)), method=method)


class CalibratedModel(ClassifierMixin, BaseEstimator):
    """A fitted model whose scores pass through a fitted `score_calibrator`, kept `bound` away from 0 and 1.

    The calibrator may have been fitted on the held-out scores of a twin of the model (the same
    recipe fitted without the calibration rows), which is how a model refitted on every labelled
    row still gets an honest calibration.
    """

    def __init__(self, model: Any = None, calibrator: CalibratedClassifierCV | None = None, method: str = "",
                 bound: float = 0.0) -> None:
        self.model = model
        self.calibrator = calibrator
        self.method = method
        self.bound = bound

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Load a model pickled before `bound` existed as unbounded, as it was released."""
        super().__setstate__({"bound": 0.0, **state})

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return the calibrated [P(negative), P(positive)]."""
        positive = self.calibrator.predict_proba(model_scores(self.model, X).reshape(-1, 1))[:, 1]
        positive = np.clip(positive, self.bound, 1 - self.bound)
        return np.column_stack([1 - positive, positive])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Return the decision at 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class ScoringModel(ClassifierMixin, BaseEstimator):
    """What is deployed: a fitted model (possibly a CalibratedModel) and its decision threshold."""

    def __init__(self, model: Any = None, threshold: float = 0.5, description: str = "") -> None:
        self.model = model
        self.threshold = threshold
        self.description = description

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    def fit(self, X: pd.DataFrame, y: Any) -> ScoringModel:
        """Refit the wrapped model; the threshold is kept."""
        self.model = unfitted_copy(self.model).fit(X, y)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return [P(negative), P(positive)] from the wrapped model."""
        return self.model.predict_proba(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Return the decision at the stored threshold."""
        return (self.predict_proba(X)[:, 1] >= self.threshold).astype(int)
