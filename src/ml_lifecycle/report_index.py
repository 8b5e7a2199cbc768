"""`data/08_reporting/index.html`: one page linking every current report, with headline numbers.

Each pipeline saves its own typed section (title, headline numbers, notes, links) through a
`ReportIndexDataset`; the dataset keeps the sections in `index_sections.json` and re-renders
the page (template `index.html.j2`) from all of them, so it always shows the latest of every pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset
from pydantic import Field

from ml_lifecycle.files import atomic_write
from ml_lifecycle.pages import render
from ml_lifecycle.spec import StrictModel

ORDER = ["data_processing", "modeling", "evaluation", "monitoring", "deployment", "retraining", "loop"]


class Link(StrictModel):
    """A link from the index page, relative to the reporting folder."""

    label: str
    href: str


class IndexSection(StrictModel):
    """One pipeline's part of the index page."""

    title: str
    updated: str
    headline: dict[str, str | int | float] = Field(default_factory=dict, description="Label -> headline number.")
    links: list[Link] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def render_index(sections: dict[str, IndexSection]) -> str:
    """Return the index page of `sections`, in lifecycle order."""
    ordered = sorted(sections.items(), key=lambda item: ORDER.index(item[0]) if item[0] in ORDER else len(ORDER))
    return render("index.html.j2", sections=ordered)


class ReportIndexDataset(AbstractDataset[IndexSection, dict[str, IndexSection]]):
    """Save one pipeline's section of the report index; load all sections."""

    def __init__(self, path: str, section: str, metadata: dict[str, Any] | None = None) -> None:
        self._folder = Path(path)
        self._section = section
        self.metadata = metadata

    @property
    def _sections_path(self) -> Path:
        return self._folder / "index_sections.json"

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._folder), "section": self._section}

    def _exists(self) -> bool:
        return self._sections_path.exists()

    def _load(self) -> dict[str, IndexSection]:
        if not self._sections_path.exists():
            return {}
        return {key: IndexSection.model_validate(value) for key, value in json.loads(self._sections_path.read_text()).items()}

    def _save(self, section: IndexSection) -> None:
        sections = self._load() | {self._section: IndexSection.model_validate(section)}
        atomic_write(self._sections_path, json.dumps({k: v.model_dump() for k, v in sections.items()}, indent=2).encode())
        atomic_write(self._folder / "index.html", render_index(sections).encode())
