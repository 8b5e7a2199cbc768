"""The model registry on a real folder: bundle round trip, tamper and pickle-exploit refusal, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from kedro.io import DataCatalog

from ml_lifecycle import rows
from ml_lifecycle.bundle import BundleError, InputLimits, ModelBundle, build_recipe
from ml_lifecycle.deployment import deploy
from ml_lifecycle.estimators import ScoringModel, build_model
from ml_lifecycle.publishing import MANIFEST, Append, RunManifest, RunPublisher
from ml_lifecycle.registry import ModelRegistry, ReleaseCandidate, ReleaseInfo
from tests.pipelines.evaluation import synthetic

SPEC = synthetic.spec()
TRAIN = synthetic.rows(300, 1)


def candidate(description: str = "logistic", threshold: float = 0.4) -> ReleaseCandidate:
    """Return a real fitted model in a bundle, ready to register."""
    model = build_model("sklearn.linear_model.LogisticRegression", {}, "onehot_scaled", SPEC).fit(TRAIN, TRAIN["label"])
    recipe = build_recipe(TRAIN, rows.learn_missing_value_fills(TRAIN, SPEC), SPEC, InputLimits(feature_bounds={"signal": {"min": -9}}))
    return ReleaseCandidate(bundle=ModelBundle(recipe=recipe, model=ScoringModel(model, threshold, description), abstain_band=(0.3, 0.5)),
                            info=ReleaseInfo(problem="synthetic", model="logistic", stage="released", description=description,
                                             data_fingerprint="abc", metrics={"roc_auc": 0.8}))


class RunsCodeWhenUnpickled:
    """A pickle payload that creates a file when loaded: what an attacker would put in the registry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_registered_bundle_loads_back_whole_with_its_manifest(tmp_path):
    registry = ModelRegistry(tmp_path)
    manifest = registry.register(candidate())
    loaded = registry.load("v1")
    assert manifest.version == "v1" and loaded.manifest == manifest
    assert manifest.sha256 == registry.history()[0].sha256 and manifest.threshold == 0.4
    assert manifest.abstain_band == (0.3, 0.5) and manifest.problem == "synthetic"
    assert set(manifest.libraries) == {"python", "scikit-learn", "catboost", "pandas", "numpy"}
    assert manifest.feature_schema.model_columns == SPEC.model_columns()
    assert manifest.feature_schema.limits.feature_bounds["signal"].min == -9
    expected = candidate().bundle
    np.testing.assert_array_equal(loaded.bundle.probabilities(TRAIN), expected.probabilities(TRAIN))
    assert loaded.bundle.recipe.fills == expected.recipe.fills and loaded.bundle.recipe.categories == expected.recipe.categories
    assert registry.snapshot().champion is None  # registering never promotes


def test_a_changed_byte_in_the_bundle_is_refused_naming_the_file(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.register(candidate())
    path = registry.bundle_path("v1")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"bundle\.pkl: sha256 .* differs from the .* recorded when v1 was registered"):
        registry.load("v1")


def test_a_code_executing_pickle_in_place_of_a_version_is_refused_before_it_is_unpickled(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.register(candidate())
    marker = tmp_path / "the payload ran"
    registry.bundle_path("v1").write_bytes(pickle.dumps(RunsCodeWhenUnpickled(marker)))
    with pytest.raises(BundleError, match="so it is not unpickled"):
        registry.load("v1")
    assert not marker.exists()


def test_another_versions_file_copied_over_is_refused(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.register(candidate("first", 0.4))
    registry.register(candidate("second", 0.7))
    shutil.copyfile(registry.bundle_path("v2"), registry.bundle_path("v1"))
    with pytest.raises(BundleError, match="v1 was registered"):
        registry.load("v1")
    assert registry.load("v2").bundle.threshold == 0.7


def test_a_bundle_pickled_with_other_library_versions_is_refused_naming_them(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.register(candidate())
    manifest_path = registry.version_folder("v1") / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["libraries"]["scikit-learn"] = "0.24.2"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"bundle\.pkl: pickled with other library versions .*scikit-learn recorded 0\.24\.2"):
        registry.load("v1")


def test_the_history_is_only_appended_to_and_a_torn_last_line_is_skipped(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.register(candidate())
    before = registry.history_path.read_text()
    registry.record("v1", "promoted", "first")
    registry.register(candidate())
    registry.record("v2", "promoted", "second")
    assert registry.history_path.read_text().startswith(before)
    with registry.history_path.open("a") as history:
        history.write('{"at": "2026-')  # a writer killed mid-line
    assert [e.event for e in registry.history()] == ["registered", "promoted", "registered", "promoted"]
    assert registry.snapshot().champion == "v2" and registry.history()[-1].previous_champion == "v1"


def test_with_no_champion_loading_says_whether_the_gate_blocked_the_release(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.register(candidate())
    with pytest.raises(LookupError, match=r"no champion yet: run `kedro run`"):
        registry.load()
    registry.record("v1", "blocked", "first release")
    with pytest.raises(LookupError, match=r"no champion yet: the release gate blocked v1 .*--force --reason"):
        registry.load()


def test_rollback_restores_the_previous_champion_and_refuses_one_that_cannot_be_served(tmp_path):
    registry = ModelRegistry(tmp_path)
    for version in ("v1", "v2"):
        registry.register(candidate())
        registry.record(version, "promoted", "test")
    assert registry.rollback(reason="bad") == "v1" and registry.snapshot().champion == "v1"
    registry.bundle_path("v2").write_bytes(b"not a bundle")
    with pytest.raises(BundleError):
        registry.rollback("v2")
    assert registry.snapshot().champion == "v1"


def test_a_bundle_for_other_input_columns_is_not_deployed(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.register(candidate())
    other = SPEC.model_copy(update={"numeric_features": ["signal"]})
    with pytest.raises(BundleError, match="v1 was released for other input columns"):
        deploy(registry.load("v1"), other)


def register_many(folder: str, writer: int, count: int) -> None:
    """Register `count` bundles described 'w<writer>-<i>' (run in a separate process)."""
    registry = ModelRegistry(folder)
    for index in range(count):
        registry.register(candidate(f"w{writer}-{index}"))


def test_two_processes_registering_at_once_lose_nothing_and_pair_every_file_with_its_record(tmp_path):
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=register_many, args=(str(tmp_path), writer, 20)) for writer in (1, 2)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=300)
        assert process.exitcode == 0
    registry = ModelRegistry(tmp_path)
    snapshot = registry.snapshot()
    assert sorted(snapshot.versions, key=lambda v: int(v[1:])) == [f"v{n}" for n in range(1, 41)]
    descriptions = {registry.load(v).bundle.model.description: m.description for v, m in snapshot.versions.items()}
    assert sorted(descriptions) == sorted(f"w{w}-{i}" for w in (1, 2) for i in range(20))
    assert all(bundle == manifest for bundle, manifest in descriptions.items())
    assert len(os.listdir(tmp_path / "versions")) == 40


def test_a_runs_registry_events_are_seen_by_its_nodes_and_appended_together_only_when_it_publishes(tmp_path):
    folder = tmp_path / "06_models/model_registry"
    ModelRegistry(folder).record(ModelRegistry(folder).register(candidate("first")).version, "promoted", "first release")
    history_before = (folder / "history.jsonl").read_bytes()
    publisher = RunPublisher(tmp_path)

    run = publisher.start("2026-01-01T00.00.00.000Z")
    staged = ModelRegistry(folder, run)
    version = staged.register(candidate("second")).version
    staged.record(version, "promoted", "second release")
    assert staged.snapshot().champion == "v2" and staged.load().version == "v2"  # later nodes of the run see it
    assert ModelRegistry(folder).snapshot().champion == "v1"  # nobody else does
    assert (folder / "history.jsonl").read_bytes() == history_before
    run.publish(DataCatalog(), ["evaluation"])
    published = ModelRegistry(folder).history()
    assert [(e.event, e.version) for e in published] == [("registered", "v1"), ("promoted", "v1"), ("registered", "v2"),
                                                        ("promoted", "v2")]
    assert staged.history() == published  # after publishing, the run's view reads them once, from the file

    failed = publisher.start("2026-01-02T00.00.00.000Z")
    ModelRegistry(folder, failed).record(ModelRegistry(folder, failed).register(candidate("third")).version, "promoted", "x")
    assert (folder / "versions/v3/bundle.pkl").exists()
    failed.discard()
    assert ModelRegistry(folder).history() == published and not (folder / "versions/v3").exists()


def test_a_publish_interrupted_before_its_appends_is_finished_once_by_the_next_run(tmp_path):
    folder = tmp_path / "model_registry"
    ModelRegistry(folder).register(candidate("first"))
    event = ModelRegistry(folder).history()[0].model_copy(update={"event": "promoted", "reason": "interrupted"})
    line = event.model_dump_json()
    with (folder / "history.jsonl").open("a") as history:
        history.write(line[:25])  # and a writer killed mid-append left a torn line
    # The manifest is the commit: it names the appends, as a process killed right after writing it leaves them.
    append = Append(target=str(folder / "history.jsonl"), lock=str(folder / "registry.lock"), lines=[line])
    (tmp_path / MANIFEST).write_text(RunManifest(appends=[append]).model_dump_json())

    RunPublisher(tmp_path).recover()
    RunPublisher(tmp_path).recover()

    assert [e.event for e in ModelRegistry(folder).history()] == ["registered", "promoted"]
    assert ModelRegistry(folder).snapshot().champion == "v1"
