"""The corrupt-input corpus, case by case, and what Adult's own files give under the same row rules.

1. Every case of tests/data/corrupt/ (ingestion: the data_processing pipeline on the tiny problem; batch inference:
   the inference pipeline on the tiny deployment), run after a good run as tests/corrupt_corpus.py runs it: the
   exit code `kedro run` would give, the message (the error, or what was removed or rejected) and, after a failure,
   whether the good run's outputs are intact.
2. With `--adult`: `kedro run --pipeline=data_processing --env=adult` in a temporary copy of the project, on the
   shipped files, on `adult.data` with every row twice, and on `adult.data` with a truncated last line and with a
   NUL byte (exit code, message, and whether the earlier run's published outputs are intact: every file under the
   data root but run bookkeeping and 02_intermediate).

usage: .venv/bin/python benchmarks/corrupt_inputs.py [--adult]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ml_lifecycle.rows import DataValidationError  # noqa: E402
from tests.conftest import copy_project, project_catalog, run_kedro  # noqa: E402
from tests.corrupt_corpus import (  # noqa: E402
    INFERENCE,
    INGESTION,
    cases,
    run_inference_case,
    run_ingestion_case,
)

SHOWN = 150  # characters of a message shown per case


def shown(message: str) -> str:
    """Return a message on one line, cut to SHOWN characters."""
    one_line = " | ".join(message.splitlines())
    return one_line if len(one_line) <= SHOWN else one_line[:SHOWN] + "..."


def corpus_table() -> None:
    """Print every corpus case: expected outcome, exit code, intact earlier outputs, message; then the totals."""
    for kind, run in ((INGESTION, run_ingestion_case), (INFERENCE, run_inference_case)):
        print(f"\n## {kind}: {len(cases(kind))} cases\n")
        print("| case | expected | exit | earlier outputs intact | message |\n| --- | --- | --- | --- | --- |")
        failed = intact = 0
        for case in cases(kind):
            outcome = run(case)
            failed += outcome.exit_code
            intact += bool(outcome.earlier_outputs_intact)
            state = "n/a (run succeeded)" if outcome.earlier_outputs_intact is None else str(outcome.earlier_outputs_intact).lower()
            print(f"| {case.name} | {case.outcome} | {outcome.exit_code} | {state} | {shown(outcome.message)} |")
        print(f"\n{kind}: {failed} runs failed with a named error, {intact} of them left the earlier outputs intact; "
              f"{len(cases(kind)) - failed} succeeded (rows removed, rejected or all kept as the manifest expects)")


def fingerprint(data_root: Path) -> dict[str, str]:
    """Return the md5 of every published file under a data root (run bookkeeping and 02_intermediate left out)."""
    skipped = {".runs", ".staging", "02_intermediate"}
    return {str(p.relative_to(data_root)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(data_root.rglob("*")) if p.is_file() and not skipped & set(p.relative_to(data_root).parts)}


def adult_run(project: Path, label: str, before: dict[str, str] | None = None) -> None:
    """Run data_processing on Adult in `project`; print the exit code, message or row accounting, and intact outputs."""
    started = time.perf_counter()
    try:
        run_kedro(project, ["data_processing"], env="adult")
    except DataValidationError as error:
        intact = fingerprint(project / "data/adult") == before
        print(f"- {label}: exit 1 after {time.perf_counter() - started:.0f} s, earlier outputs intact: {str(intact).lower()}; "
              f"{shown(str(error))}")
        return
    accounting = project_catalog(project, "adult").load("data_quality_report")["row_accounting"]
    print(f"- {label}: exit 0 after {time.perf_counter() - started:.0f} s; splits {accounting['split_rows']}; "
          f"removed {accounting['removed']}; evaluation duplicates {json.dumps(accounting['evaluation_duplicates'])}")


def adult_runs() -> None:
    """Print the Adult runs: shipped files, every row twice, a truncated last line, a NUL byte."""
    print("\n## Adult (kedro run --pipeline=data_processing --env=adult, a temporary project copy)\n")
    with tempfile.TemporaryDirectory() as folder:
        project = copy_project(Path(folder) / "project")
        raw = project / "data/01_raw/adult/adult.data"
        shipped = raw.read_bytes()
        adult_run(project, "shipped files")
        lines = shipped.rstrip(b"\n").split(b"\n")
        raw.write_bytes(shipped + shipped)
        adult_run(project, "adult.data with every row twice")
        raw.write_bytes(shipped)
        adult_run(project, "shipped files again (the earlier run for the failures below)")
        before = fingerprint(project / "data/adult")
        raw.write_bytes(b"\n".join(lines) + b"\n" + lines[-1][:9])
        adult_run(project, "adult.data with a truncated last line", before)
        raw.write_bytes(shipped.replace(b" Private,", b" Priv\x00ate,", 1))
        adult_run(project, "adult.data with a NUL byte in a value", before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adult", action="store_true", help="also run data_processing on Adult (about a minute)")
    args = parser.parse_args()
    os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
    logging.disable(logging.ERROR)  # each failing case logs its traceback; the table shows the message
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}")
    corpus_table()
    if args.adult:
        adult_runs()


if __name__ == "__main__":
    main()
