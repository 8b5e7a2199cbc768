"""The EDA notebook executes top to bottom on a project copy, through the Kedro catalog."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.conftest import REPO_ROOT, copy_project


def test_eda_notebook_executes_from_a_fresh_project(tmp_path: Path):
    project = copy_project(tmp_path / "project")
    shutil.copytree(REPO_ROOT / "notebooks", project / "notebooks")
    notebook = nbformat.read(project / "notebooks" / "eda.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(project / "notebooks")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "rows, 12 features, target 'income'" in printed
