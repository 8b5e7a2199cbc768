"""The corrupt-input corpus (tests/data/corrupt/): its cases, and each one run through the real pipeline on a tiny problem.

Each case replaces one file of a good run (`good/`); the pipeline (data_processing or inference, its real nodes
on Kedro's SequentialRunner) first runs on the good files, then on the case, in a catalog still holding the
good run's outputs. The outcome says whether the run failed (exit code 1, as `kedro run` gives), its message or
what it removed or rejected, and whether the good run's outputs were left as they were.
Used by tests/test_corrupt_inputs.py (one test per case) and benchmarks/corrupt_inputs.py (a table of outcomes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from pydantic import BaseModel, ConfigDict, Field

from ml_lifecycle.batch_scoring import InferenceConfig
from ml_lifecycle.deployment import DeployedModel
from ml_lifecycle.pipelines import data_processing, inference
from ml_lifecycle.pipelines.data_processing.nodes import RowRules
from ml_lifecycle.rows import DataValidationError
from tests.pipelines.data_processing.tiny_problem import tiny_spec
from tests.pipelines.inference.tiny_deployment import (
    LIMITS,
    headerless_spec,
    tiny_deployed,
)

CORPUS = Path(__file__).parent / "data" / "corrupt"
INGESTION, INFERENCE = "ingestion", "inference"
REPEATED = re.compile(rb"\{\{(.)\*(\d+)\}\}")  # {{c*N}}: the character c, N times
# Written by the first node before any rule is checked; a real run publishes it only when the run completes
# (ml_lifecycle.publishing), so a failing run leaves the published one in place.
FIRST_NODE_OUTPUT = "standardised_rows"
INFERENCE_CONFIG = InferenceConfig(input_path="in/new.csv", output_path="out/scored.csv", rejects_path="out/scored.csv.rejects.csv")


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release once its consumers ran, so a run's every output can be compared."""

    def _release(self) -> None:
        """Keep the data."""


class Case(BaseModel):
    """One corrupt file and what the pipeline must do with it (a `manifest.yml` entry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    outcome: Literal["error", "removed", "rejected", "ok"]
    message: str | None = Field(default=None, description="Regex the error (or each reject reason) must match.")
    replaces: Literal["train.csv", "test.csv"] = "train.csv"
    bad_rows: Literal["fail", "remove"] = "fail"
    removed: dict[str, int] = Field(default_factory=dict, description="row_accounting.removed entries expected.")
    rejected: int = 0

    @property
    def name(self) -> str:
        """The case as tests and tables name it."""
        return self.file if self.replaces == "train.csv" else f"{self.file} as {self.replaces}"


@dataclass(frozen=True)
class Outcome:
    """What a run on a corrupt file did."""

    exit_code: int
    message: str  # the error, or a summary of what was removed or rejected
    earlier_outputs_intact: bool | None  # after a failure: the good run's outputs unchanged; None when the run succeeded
    outputs: dict[str, Any]  # the run's outputs (empty after a failure)


def cases(kind: str) -> list[Case]:
    """Return the cases of `kind` (ingestion or inference), in manifest order."""
    return [Case.model_validate(c) for c in yaml.safe_load((CORPUS / kind / "manifest.yml").read_text())["cases"]]


def corpus_bytes(path: Path) -> bytes:
    """Return a corpus file's bytes with every {{c*N}} expanded."""
    return REPEATED.sub(lambda found: found.group(1) * int(found.group(2)), path.read_bytes())


def _same(earlier: Any, now: Any) -> bool:
    """Return whether an output still holds what the earlier run saved."""
    return earlier.equals(now) if isinstance(earlier, pd.DataFrame) else earlier == now


def _run(pipeline: Pipeline, inputs: dict[str, Any], earlier: dict[str, Any], kept: set[str]) -> Outcome:
    """Run `pipeline` on `inputs` in a catalog holding `earlier` outputs; report the outcome and whether `kept` ones are intact."""
    given = {**earlier, **inputs}
    catalog = DataCatalog(datasets={name: KeptDataset(given[name], copy_mode="assign") if name in given else KeptDataset(copy_mode="assign")
                                    for name in pipeline.datasets()})
    try:
        SequentialRunner().run(pipeline, catalog)
    except DataValidationError as error:
        return Outcome(1, str(error), all(_same(earlier[n], catalog[n].load()) for n in kept), {})
    return Outcome(0, "", None, {name: catalog[name].load() for name in pipeline.all_outputs()})


def _ingestion_inputs(files: dict[str, bytes], case: Case | None) -> dict[str, Any]:
    """Return the data_processing pipeline's inputs: raw files, the tiny spec, the tiny deployment's limits, the row rules."""
    return {"raw_files": {name: (lambda content=content: content) for name, content in files.items()},
            "params:problem": tiny_spec(), "params:deployment": LIMITS,
            "params:data_processing": RowRules(bad_rows=case.bad_rows if case else "fail")}


def run_ingestion_case(case: Case) -> Outcome:
    """Run data_processing on the good files with `case`'s file in its place, after a good run."""
    pipeline = data_processing.create_pipeline()
    good = {name: (CORPUS / INGESTION / "good" / name).read_bytes() for name in ("train.csv", "test.csv")}
    earlier = _run(pipeline, _ingestion_inputs(good, None), {}, set()).outputs
    outcome = _run(pipeline, _ingestion_inputs({**good, case.replaces: corpus_bytes(CORPUS / INGESTION / case.file)}, case),
                   earlier, set(earlier) - {FIRST_NODE_OUTPUT})
    if outcome.exit_code:
        return outcome
    removed = {k: v for k, v in outcome.outputs["data_quality_report"]["row_accounting"]["removed"].items() if v}
    return Outcome(0, f"removed {removed}" if removed else "nothing removed", None, outcome.outputs)


@cache
def _deployed() -> DeployedModel:
    """The tiny champion, deployed once per process."""
    return tiny_deployed()


def _inference_inputs(content: bytes) -> dict[str, Any]:
    """Return the inference pipeline's inputs: the new rows, the tiny champion, the spec and the inference config."""
    return {"inference_input": content, "deployed_champion": _deployed(), "params:problem": headerless_spec(),
            "params:inference": INFERENCE_CONFIG}


def run_inference_case(case: Case) -> Outcome:
    """Run batch inference on `case`'s file after a good batch."""
    pipeline = inference.create_pipeline()
    earlier = _run(pipeline, _inference_inputs((CORPUS / INFERENCE / "good" / "new.csv").read_bytes()), {}, set()).outputs
    outcome = _run(pipeline, _inference_inputs(corpus_bytes(CORPUS / INFERENCE / case.file)), earlier, set(earlier))
    if outcome.exit_code:
        return outcome
    rejects = outcome.outputs["inference_rejects"]
    shown = "; ".join(f"line {line}: {reason}" for line, reason in zip(rejects["source_line"], rejects["reasons"], strict=True))
    return Outcome(0, f"{len(rejects)} rejected: {shown}" if len(rejects) else "all scored", None, outcome.outputs)
