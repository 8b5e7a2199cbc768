"""`data/08_reporting/index.html`: one page linking every current report, with headline numbers.

Each pipeline saves its own section (title, headline numbers, links) through a
`ReportIndexDataset`; the dataset keeps the sections in `index_sections.json` and re-renders
the page from all of them, so the page always shows the latest of every pipeline.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from ml_lifecycle.files import atomic_write

ORDER = ["data_processing", "modeling", "evaluation", "monitoring", "deployment"]


def render_index(sections: dict[str, dict[str, Any]]) -> str:
    """Return the index page for sections of the form {title, updated, headline: {k: v}, links: [{label, href}]}."""
    parts = []
    for key in sorted(sections, key=lambda k: ORDER.index(k) if k in ORDER else len(ORDER)):
        section = sections[key]
        numbers = "".join(
            f'<div class="num"><span class="value">{html.escape(str(v))}</span><span class="label">{html.escape(k)}</span></div>'
            for k, v in section.get("headline", {}).items()
        )
        links = "".join(f'<li><a href="{html.escape(link["href"])}">{html.escape(link["label"])}</a></li>'
                        for link in section.get("links", []))
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in section.get("notes", []))
        parts.append(f'<section id="{html.escape(key)}"><h2>{html.escape(section["title"])}</h2>'
                     f'<p class="updated">updated {html.escape(section.get("updated", ""))}</p>'
                     f'<div class="nums">{numbers}</div>{notes}<ul>{links}</ul></section>')
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ML Lifecycle reports</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}}
section{{border-top:1px solid #ddd;padding:0.5rem 0 1rem}} .updated{{color:#777;font-size:0.85rem}}
.nums{{display:flex;flex-wrap:wrap;gap:1rem}} .num{{background:#f4f6fa;border-radius:6px;padding:0.6rem 1rem;min-width:9rem}}
.value{{display:block;font-size:1.4rem;font-weight:600}} .label{{color:#555;font-size:0.85rem}}
</style></head><body><h1>ML Lifecycle reports</h1>
<p>The latest outputs of each pipeline. Re-run a pipeline to refresh its section.</p>
{''.join(parts) or '<p>No reports yet: run <code>make run</code>.</p>'}
</body></html>
"""


class ReportIndexDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
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

    def _load(self) -> dict[str, Any]:
        return json.loads(self._sections_path.read_text()) if self._sections_path.exists() else {}

    def _save(self, section: dict[str, Any]) -> None:
        sections = self._load() | {self._section: section}
        atomic_write(self._sections_path, json.dumps(sections, indent=2, default=str).encode())
        atomic_write(self._folder / "index.html", render_index(sections).encode())
