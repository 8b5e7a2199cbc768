"""Request and response models of the prediction service, generated from the problem spec.

The API field names are the features' snake_case names as they are after loading raw data.
Every feature is required; null means "missing" and is handled by the model's missing-value
policy, as a `?` would be in a raw file.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    create_model,
)

from ml_lifecycle.bundle import InputLimits
from ml_lifecycle.rows import control_character_problem, excerpt  # noqa: F401 - excerpt: the service's error bodies import it here
from ml_lifecycle.spec import ProblemSpec

ONE_ROW, MANY_ROWS = "row", "rows"


def refuse_control_characters(text: str) -> str:
    """Return `text`, or raise when it holds a control character (the rule every raw file's records follow too)."""
    problem = control_character_problem(text)
    if problem:
        raise ValueError(problem)
    return text


def row_model(spec: ProblemSpec, limits: InputLimits, example: dict[str, Any]) -> type[BaseModel]:
    """Return the pydantic model of one input row: numbers finite and within the bundle's bounds (declared, else its
    magnitude limits), text bounded in length and free of control characters."""
    fields: dict[str, Any] = {}
    accepted = limits.accepted_bounds()
    for column in spec.numeric_features:
        bounds = accepted.get(column)
        number = Annotated[
            float,
            Field(strict=True, allow_inf_nan=False, ge=bounds.min if bounds else None, le=bounds.max if bounds else None),
        ]
        fields[column] = (number | None, Field(description=f"numeric feature {column!r}; null if missing"))
    for column in spec.categorical_features:
        text = Annotated[str, Field(max_length=limits.max_text_length), AfterValidator(refuse_control_characters)]
        fields[column] = (
            text | None,
            Field(description=f"categorical feature {column!r}; null if missing; a value never seen in training is scored and flagged"),
        )
    return create_model(
        "Row",
        __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [example]}),
        **fields,
    )


def _shape(payload: Any) -> str:
    """Route a JSON list to the many-rows branch and anything else to the one-row branch."""
    return MANY_ROWS if isinstance(payload, list) else ONE_ROW


def predict_request_model(row: type[BaseModel]) -> type[RootModel]:
    """Return the body model of POST /predict: one row object, or a non-empty list of them."""
    payload = Annotated[
        Annotated[row, Tag(ONE_ROW)] | Annotated[list[row], Field(min_length=1), Tag(MANY_ROWS)],
        Discriminator(_shape),
    ]
    return RootModel[payload]


class Prediction(BaseModel):
    """One row's answer."""

    probability: float = Field(description="Probability of the positive label.")
    decision: int = Field(description="1 when probability >= threshold.")
    label: str = Field(description="The decision as the problem's label.")
    low_confidence: bool = Field(description="The probability is inside the release's abstain band: too close to the threshold to trust.")
    unseen_categories: dict[str, str] = Field(description="Column -> value never seen in training (scored anyway).")


class PredictResponse(BaseModel):
    """The answer to POST /predict, one prediction per input row in order."""

    request_id: str = Field(description="Quote it in POST /feedback to record the true labels.")
    model_version: str = Field(description="Registry version that answered.")
    role: str = Field(description="champion, or challenger when a canary answered.")
    threshold: float
    predictions: list[Prediction]


class Feedback(BaseModel):
    """True labels for an earlier request, in the order of its rows."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=64)
    labels: list[str] = Field(min_length=1, description="One raw label per row of the request, as the problem's target.positive_label or negative_label.")


def error_location(location: tuple[Any, ...]) -> str:
    """Return a validation error's location as the client wrote it: `age`, `rows[2].age`, `labels[0]`."""
    parts = list(location)
    if parts and parts[0] == "body":
        parts = parts[1:]
    if parts and parts[0] == ONE_ROW:
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def rows_refused(errors: list[dict[str, Any]]) -> int:
    """Return how many rows of a POST /predict body its validation errors name: distinct row indices, at least 1."""
    named = {loc[2] for loc in (tuple(e["loc"]) for e in errors)
             if len(loc) > 2 and loc[1] == MANY_ROWS and isinstance(loc[2], int)}
    return max(1, len(named))  # one row object, a malformed body or an empty list: the request is refused as one
