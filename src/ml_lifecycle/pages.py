"""Pages people read, rendered from the Jinja2 templates shipped in `ml_lifecycle/templates/`.

HTML templates escape every value unless it is marked safe (charts and tables the project
renders itself); an undefined name in a template is an error, not an empty string.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup


@cache
def environment() -> Environment:
    """Return the project's template environment (created once)."""
    env = Environment(loader=PackageLoader("ml_lifecycle", "templates"), autoescape=select_autoescape(["html.j2"], default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["number"] = number
    env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)  # also YAML, unlike tojson's HTML escapes
    return env


def render(template: str, **context: Any) -> str:
    """Return `template` rendered with `context`."""
    return environment().get_template(template).render(**context)


def number(value: Any, digits: int = 3) -> str:
    """Return a float with `digits` decimals ('–' when missing), anything else as text."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def html_table(frame: pd.DataFrame, digits: int = 4) -> Markup:
    """Return a frame as an HTML table (pandas escapes the cells), safe to place in a template."""
    return Markup(frame.to_html(index=False, float_format=lambda v: f"{v:.{digits}f}", na_rep="–", classes="t", border=0))


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """Return a frame as a Markdown table."""
    def cell(value: Any) -> str:
        return number(value, digits).replace("|", "\\|")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + " --- |" * len(frame.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])
