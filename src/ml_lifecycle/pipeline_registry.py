"""Project pipelines, and where the shared steps are instantiated.

The release steps (`pipelines/release`) are declared once and instantiated here under a
namespace wherever a model is released: evaluation releases the champion, retraining its
challenger. The deploy pipeline (namespace `deploy`) is added to every pipeline that scores
with the champion. Pipelines never import each other; they meet in the catalog and here.
"""

from __future__ import annotations

from importlib import import_module
from importlib.resources import files

from kedro.pipeline import Pipeline, pipeline

LIFECYCLE_ORDER = ["data_processing", "modeling", "evaluation", "monitoring", "inference"]
TEMPLATES = ["release"]  # modular pipelines that only run instantiated
RELEASE_PARAMETERS = {f"params:{name}" for name in ("evaluation", "modeling", "problem", "deployment", "release")}
SHARED_RELEASE_INPUTS = {"validation_split", "champion_selection", "tuning_results", "missing_value_fills", "frozen_holdout",
                         "incumbent_bundle", "baseline_models", "sanity_checks", "data_fingerprint", "monitoring_reference"}

# For each pipeline that releases a model: its namespace, the template's inputs and outputs it names, and how.
RELEASES = {
    "evaluation": {
        "inputs": {"fitted_model": "champion_model", "twin_rows": "train_split", "recipe_rows": "train_split",
                   "release_context": "release_context"},
        "outputs": {name: name for name in (
            "released_model", "threshold_choice", "threshold_curve", "calibration_comparison", "holdout_twin",
            "feature_importance", "leak_checks", "slice_metrics", "fairness_gaps", "behavioural_checks", "gate_verdict",
            "release_registration", "release_promotion")},
    },
    "retraining": {
        # Calibrated and thresholded on recent labelled rows, judged on the latest ones, neither trained on: after
        # concept drift the old splits' labels are the old concept's (and simulated batches are cut from the frozen holdout).
        "inputs": {"fitted_model": "challenger_model", "twin_rows": "retraining_rows", "recipe_rows": "train_split",
                   "release_context": "challenger_release_context", "data_fingerprint": "retraining_fingerprint",
                   "frozen_holdout": "recent_holdout_rows", "validation_split": "recent_calibration_rows"},
        "outputs": {"released_model": "challenger", "gate_verdict": "challenger_gate_verdict",
                    "release_registration": "challenger_registration", "release_promotion": "challenger_promotion"},
    },
}
SCORES_WITH_CHAMPION = ["inference", "inference_partitioned", "monitoring", "monitoring_partitioned", "retraining"]
# Pipelines kept in another pipeline's package: monitoring a batch larger than memory reuses monitoring's drift calibration.
HOSTED = {"monitoring_partitioned": "monitoring.large_batch"}


def released_under(namespace: str) -> Pipeline:
    """Return the release steps under `namespace`, wired to that pipeline's datasets."""
    template = import_module(f"{__package__}.pipelines.release").create_pipeline()
    wiring = RELEASES[namespace]
    return pipeline(template, namespace=namespace, inputs={n: n for n in SHARED_RELEASE_INPUTS} | wiring["inputs"],
                    outputs=wiring["outputs"], parameters=RELEASE_PARAMETERS)


def compose(name: str, own: Pipeline) -> Pipeline:
    """Return pipeline `name` with the shared steps it uses: its release, and deploy when it scores with the champion."""
    if name in RELEASES:
        own = released_under(name) + own
    if name in SCORES_WITH_CHAMPION:
        own = import_module(f"{__package__}.pipelines.deploy").create_pipeline() + own
    return own


def register_pipelines() -> dict[str, Pipeline]:
    """Register every pipeline with its shared steps; `__default__` is the whole lifecycle in order."""
    # Every package under pipelines/, imported here rather than by Kedro 1.7's find_pipelines: with
    # `--pipeline=NAME` that imports only the package named NAME, so it fails for a HOSTED pipeline.
    packages = sorted(p.name for p in files(f"{__package__}.pipelines").iterdir() if p.is_dir() and p.name != "__pycache__")
    modules = {name: name for name in packages} | HOSTED
    found = {name: import_module(f"{__package__}.pipelines.{module}").create_pipeline() for name, module in modules.items()}
    pipelines = {name: compose(name, own) for name, own in found.items() if name not in TEMPLATES}
    pipelines["__default__"] = sum(
        (pipelines[name] for name in LIFECYCLE_ORDER if name in pipelines), Pipeline([])
    )
    return pipelines


def lifecycle_pipeline() -> Pipeline:
    """Return every lifecycle pipeline with its shared steps, whichever ones the CLI asked Kedro to load."""
    found = []
    for name in LIFECYCLE_ORDER:
        try:
            found.append(compose(name, import_module(f"{__package__}.pipelines.{name}").create_pipeline()))
        except ModuleNotFoundError:
            continue
    return sum(found, Pipeline([]))
