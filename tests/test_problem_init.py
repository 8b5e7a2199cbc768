"""`kedro problem init`: a person's CSV becomes a reviewed-looking conf/<name>/ that the project accepts as is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ml_lifecycle.cli import cli
from ml_lifecycle.problem_init import ProblemInitError, init_problem
from ml_lifecycle.spec import ProblemSpec
from tests.conftest import REPO_ROOT, copy_project, env_parameters, inside_project


def loan_table(rows: int = 600, seed: int = 3) -> pd.DataFrame:
    """Return a loan-default table unlike Adult: an id, a constant, a code column, string labels, gaps in both kinds."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.5, rows).round(0)
    debt_ratio = rng.uniform(0, 1.2, rows).round(3)
    age = rng.integers(19, 80, rows)
    risk = 2.5 * debt_ratio - income / 40_000 + rng.normal(0, 0.6, rows)
    table = pd.DataFrame({
        "Loan ID": [f"L-{i:05d}" for i in range(rows)],
        "Applicant Age": age,
        "Annual Income": income.astype(object),
        "Debt Ratio": debt_ratio,
        "Region Code": rng.integers(1, 4, rows),
        "Employment": rng.choice(["salaried", "self-employed", "unemployed", "retired"], rows).astype(object),
        "Gender": rng.choice(["F", "M"], rows),
        "Currency": "EUR",
        "Defaulted": np.where(risk > np.quantile(risk, 0.8), "yes", "no"),
    })
    table.loc[::17, "Annual Income"] = "NA"
    table.loc[5::23, "Employment"] = ""
    return table


def write_semicolon_csv(table: pd.DataFrame, path: Path) -> Path:
    """Write the table as a `;`-separated file with a header row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, sep=";", index=False)
    return path


@pytest.fixture
def loan_project(tmp_path: Path) -> tuple[Path, Path]:
    """A project copy and a loan CSV outside it."""
    project = copy_project(tmp_path / "project")
    return project, write_semicolon_csv(loan_table(), tmp_path / "incoming" / "loans.csv")


def test_init_proposes_a_problem_the_project_accepts_without_edits(loan_project):
    project, data = loan_project
    proposal, env = init_problem(project, "loans", data)
    assert proposal.raw_format.separator == ";" and proposal.raw_format.column_names is None
    assert proposal.target_column == "defaulted" and proposal.positive_label == "yes"
    assert proposal.dropped_columns.keys() == {"loan_id", "currency"}
    assert set(proposal.numeric_features) == {"applicant_age", "annual_income", "debt_ratio", "region_code"}
    assert set(proposal.categorical_features) == {"employment", "gender"}
    assert proposal.protected_attributes == ["gender", "applicant_age_band"]
    assert (project / "data/01_raw/loans/loans.csv").is_file()
    spec = ProblemSpec.model_validate(env_parameters("loans", conf=project / "conf")["problem"])
    assert spec.raw.separator == ";" and spec.raw.missing_markers == ["", "NA"]
    assert spec.target.negative_label == "no"
    text = (env / "parameters.yml").read_text()
    assert "only 3 distinct numbers" in text  # the doubtful code column says why it is numeric
    assert "a row identifier" in text


def test_init_on_a_headerless_file_names_its_columns(tmp_path: Path):
    project = copy_project(tmp_path / "project")
    lines = (REPO_ROOT / "data/01_raw/adult/adult.data").read_text().splitlines()[:400]
    data = tmp_path / "census.csv"
    data.write_text("\n".join(lines) + "\n")
    proposal, _ = init_problem(project, "census", data)
    assert proposal.raw_format.column_names == [f"column_{i}" for i in range(1, 16)]
    assert proposal.target_column == "column_15" and proposal.positive_label == ">50K"
    assert proposal.raw_format.missing_markers == ["", "?"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target": "default_flag"}, r"no column 'default_flag'; two-valued columns that could be the target: \['gender', 'defaulted'\]"),
        ({"positive_label": "maybe"}, r"label 'maybe' is not in column 'defaulted'; its labels are \['no', 'yes'\]"),
    ],
)
def test_a_target_or_label_that_does_not_exist_fails_naming_the_choices(loan_project, options, message):
    project, data = loan_project
    with pytest.raises(ProblemInitError, match=message):
        init_problem(project, "loans", data, **options)
    assert not (project / "conf/loans").exists()


def test_the_command_prints_each_decision_and_refuses_to_overwrite(loan_project):
    project, data = loan_project
    with inside_project(project) as metadata:
        first = CliRunner().invoke(cli, ["problem", "init", "loans", "--data", str(data)], obj=metadata)
        again = CliRunner().invoke(cli, ["problem", "init", "loans", "--data", str(data)], obj=metadata)
    assert first.exit_code == 0, first.output
    assert "- separator: ';'" in first.output and "kedro run --env loans" in first.output
    assert again.exit_code != 0 and "conf/loans exists" in again.output
