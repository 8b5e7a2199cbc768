"""Model selection against a Dask scheduler and two workers started separately (`dask scheduler`, `dask worker`) on loopback."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ml_lifecycle.compute import ComputeConfig, dask_client
from tests.conftest import project_catalog, run_kedro
from tests.dask_cluster import separate_cluster

TIMINGS = ["fit_seconds", "predict_ms_per_1000_rows"]
SELECTION = ["leaderboard", "champion_choice"]  # model selection only: no refit, curves or registration


def selection(project: Path) -> tuple[pd.DataFrame, object]:
    """Return the project's latest leaderboard (without timings) and champion choice."""
    catalog = project_catalog(project)
    return catalog.load("leaderboard").drop(columns=TIMINGS), catalog.load("champion_choice")


def test_modeling_on_a_separately_started_scheduler_gives_the_local_leaderboard_and_champion(project_copy, tmp_path,
                                                                                           caplog):
    run_kedro(project_copy, ["modeling"], to_outputs=SELECTION)
    local_board, local_champion = selection(project_copy)
    with separate_cluster(tmp_path) as address:
        run_kedro(project_copy, ["modeling"], runtime_params={"compute": {"scheduler": address}}, to_outputs=SELECTION)
        # Kedro's run replaced the root logger's handlers (caplog's among them): listen to the module itself.
        compute_log = logging.getLogger("ml_lifecycle.compute")
        compute_log.addHandler(caplog.handler)
        caplog.set_level(logging.INFO, logger="ml_lifecycle.compute")
        try:
            with dask_client(ComputeConfig(scheduler=address)):
                pass
        finally:
            compute_log.removeHandler(caplog.handler)
    board, champion = selection(project_copy)
    assert f"Computing on {address} ({address}, 2 workers); no dashboard" in caplog.text
    assert champion == local_champion
    pd.testing.assert_frame_equal(board, local_board)
    assert len(board) > 3
