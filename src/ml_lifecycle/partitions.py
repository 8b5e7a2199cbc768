"""Raw files of any size as lazy blocks (of whole lines, or Parquet row groups), and scored blocks written as partitioned Parquet.

A block is read only when a Dask task computes it, so memory follows the block size, not the
file size, with Dask's local scheduler as on a cluster. Paths are fsspec URLs: a local path, or
object storage (`s3://...`) that cluster workers can reach too.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any

import dask
import fsspec
import pandas as pd
import pyarrow.parquet as pq
from dask.bytes import read_bytes
from dask.delayed import Delayed
from fsspec.implementations.local import LocalFileSystem
from kedro.io import AbstractDataset, DatasetError

PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class RawBlock:
    """One block of a raw file, read when computed: text cut at line ends (`content` bytes, with its file's
    `first_line`), or a Parquet row group (`content` a DataFrame, its `rows` known from the file's footer)."""

    file: str
    content: Delayed
    first_line: Delayed | None
    starts_file: bool
    rows: int | None = None  # Parquet only: text blocks are parsed to count their records

    @property
    def parquet(self) -> bool:
        return self.rows is not None


def _first_line(fs: fsspec.AbstractFileSystem, path: str) -> bytes:
    """Return the first line of a file, with its line end."""
    with fs.open(path, "rb") as handle:
        return handle.readline()


def _row_group(fs: fsspec.AbstractFileSystem, path: str, group: int) -> pd.DataFrame:
    """Return one row group of a Parquet file."""
    with fs.open(path, "rb") as handle:
        return pq.ParquetFile(handle).read_row_group(group).to_pandas()


class RawPartitionsDataset(AbstractDataset[None, list[RawBlock]]):
    """A raw file, or a folder of raw files (read in name order as one batch), as lazy blocks.

    Text blocks of `blocksize` bytes stay raw bytes so `rows.read_records` parses them with the
    problem's one declared format (`problem.raw`), exactly as a whole file is parsed. Parquet files
    (`*.parquet`, `*.pq`; a folder's `_metadata`-style files are skipped) are read one row group per
    block, whatever `blocksize` says: write them with row groups of a size that fits in memory.
    """

    def __init__(self, filepath: str, blocksize: str | int = "64MiB", credentials: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._filepath = filepath
        self._blocksize = blocksize
        self._storage_options = credentials or {}
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "blocksize": self._blocksize}

    def _exists(self) -> bool:
        fs, path = fsspec.core.url_to_fs(self._filepath, **self._storage_options)
        return fs.exists(path)

    def _files(self) -> tuple[fsspec.AbstractFileSystem, list[str]]:
        fs, path = fsspec.core.url_to_fs(self._filepath, **self._storage_options)
        if not fs.exists(path):
            raise DatasetError(f"{self._filepath}: no such file or folder")
        files = sorted(p for p in fs.find(path) if not posixpath.basename(p).startswith(".")) if fs.isdir(path) else [path]
        if not files:
            raise DatasetError(f"{self._filepath}: the folder holds no files")
        return fs, files

    def _load(self) -> list[RawBlock]:
        fs, files = self._files()
        parquet = [f for f in files if f.endswith(PARQUET_SUFFIXES)]
        if parquet:
            return self._parquet_blocks(fs, files, parquet)
        _, per_file = read_bytes([fs.unstrip_protocol(f) for f in files], delimiter=b"\n", blocksize=self._blocksize,
                                 sample=False, **self._storage_options)
        local = isinstance(fs, LocalFileSystem)
        return [RawBlock(file=file if local else fs.unstrip_protocol(file), content=content,
                         first_line=dask.delayed(_first_line, pure=True)(fs, file), starts_file=number == 0)
                for file, blocks in zip(files, per_file, strict=True) for number, content in enumerate(blocks)]

    def _parquet_blocks(self, fs: fsspec.AbstractFileSystem, files: list[str], parquet: list[str]) -> list[RawBlock]:
        """Return one block per row group of each Parquet file, its row count read from the file's footer."""
        others = [f for f in files if f not in parquet and not posixpath.basename(f).startswith("_")]
        if others:
            raise DatasetError(f"{self._filepath}: Parquet and other files mixed ({', '.join(others[:3])}); "
                               "a batch is all Parquet or all text")
        blocks = []
        for file in parquet:
            with fs.open(file, "rb") as handle:
                footer = pq.ParquetFile(handle).metadata
            name = file if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(file)
            blocks += [RawBlock(file=name, content=dask.delayed(_row_group, pure=True)(fs, file, group), first_line=None,
                                starts_file=group == 0, rows=footer.row_group(group).num_rows)
                       for group in range(footer.num_row_groups)]
        return blocks

    def _save(self, data: None) -> None:
        raise DatasetError("RawPartitionsDataset is read-only: raw inputs are never written by a run")


def _write_block(scored: tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]], folder: str, published: str, number: int,
                 storage_options: dict[str, Any]) -> dict[str, Any]:
    """Write one block's predictions and rejects as Parquet parts into `folder`; return its summary naming the
    parts where they will be read, under `published`."""
    predictions, rejects, summary = scored
    part = f"part-{number:05d}.parquet"
    predictions.to_parquet(f"{folder}/predictions/{part}", index=False, storage_options=storage_options or None)
    rejects.to_parquet(f"{folder}/rejects/{part}", index=False, storage_options=storage_options or None)
    return summary | {"output": f"{published}/predictions/{part}", "rejects": f"{published}/rejects/{part}"}


class ScoredPartitionsDataset(AbstractDataset[list[Delayed], list[dict[str, Any]]]):
    """Scored blocks saved as `predictions/` and `rejects/` Parquet parts plus `blocks.json`; loads the block summaries.

    Saving computes every block once (predictions, rejects and summary come from one task) into a
    staging folder that replaces the previous output only when every block succeeded. The summaries
    name the parts under `published_path` (default `path`): where a run's publishing moves the folder.
    """

    def __init__(self, path: str, published_path: str | None = None, credentials: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._path = path.rstrip("/")
        self._published_path = (published_path or path).rstrip("/")
        self._storage_options = credentials or {}
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}

    def _exists(self) -> bool:
        fs, path = fsspec.core.url_to_fs(self._path, **self._storage_options)
        return fs.exists(f"{path}/blocks.json")

    def _load(self) -> list[dict[str, Any]]:
        with fsspec.open(f"{self._path}/blocks.json", "r", **self._storage_options) as handle:
            return json.load(handle)

    def _save(self, data: list[Delayed]) -> None:
        fs, path = fsspec.core.url_to_fs(self._path, **self._storage_options)
        staging = f"{self._path}.partial"
        staging_path = f"{path}.partial"
        if fs.exists(staging_path):
            fs.rm(staging_path, recursive=True)
        for kind in ("predictions", "rejects"):
            fs.makedirs(f"{staging_path}/{kind}", exist_ok=True)
        try:
            summaries = dask.compute(*[dask.delayed(_write_block)(scored, staging, self._published_path, number,
                                                                  self._storage_options)
                                       for number, scored in enumerate(data)])
            with fs.open(f"{staging_path}/blocks.json", "w") as handle:
                json.dump(list(summaries), handle, indent=2)
        except BaseException:
            fs.rm(staging_path, recursive=True)
            raise
        if fs.exists(path):
            fs.rm(path, recursive=True)
        fs.mv(staging_path, path, recursive=True)
