"""Architecture rules that keep the project modular: pipelines meet only through the catalog and the registry."""

from __future__ import annotations

import ast
from pathlib import Path

import ml_lifecycle

PIPELINES = Path(ml_lifecycle.__file__).parent / "pipelines"


def imported_modules(path: Path, package: str) -> list[str]:
    """Return every module the file at `path` (in `package`) imports, relative imports resolved, each imported name too."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parent = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            base = ".".join([*parent, *([node.module] if node.module else [])])
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


def cross_pipeline_imports(pipelines: Path) -> list[str]:
    """Return 'file imports module' for every module under pipelines/X/ that imports from pipelines/Y/."""
    crossings = []
    for path in sorted(pipelines.glob("*/*.py")):
        own = path.parent.name
        for module in imported_modules(path, f"ml_lifecycle.pipelines.{own}"):
            parts = module.split(".")
            if parts[:2] == ["ml_lifecycle", "pipelines"] and len(parts) > 2 and parts[2] != own:
                crossings.append(f"{own}/{path.name} imports {module}")
    return crossings


def test_no_pipeline_imports_another_pipeline():
    assert sorted(p.name for p in PIPELINES.iterdir() if (p / "pipeline.py").exists()) == [
        "data_processing", "deploy", "evaluation", "inference", "inference_partitioned", "modeling", "monitoring", "release",
        "retraining"]
    assert cross_pipeline_imports(PIPELINES) == []


def test_the_rule_finds_absolute_and_relative_crossings(tmp_path):
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "nodes.py").write_text(
        "from ml_lifecycle.pipelines.modeling.nodes import fit\nfrom ..release import nodes\nfrom . import charts\n")
    assert cross_pipeline_imports(tmp_path) == [
        "evaluation/nodes.py imports ml_lifecycle.pipelines.modeling.nodes",
        "evaluation/nodes.py imports ml_lifecycle.pipelines.modeling.nodes.fit",
        "evaluation/nodes.py imports ml_lifecycle.pipelines.release",
        "evaluation/nodes.py imports ml_lifecycle.pipelines.release.nodes",
    ]
