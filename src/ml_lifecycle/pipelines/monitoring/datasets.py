"""The production drop-in folder as a Kedro dataset."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kedro_datasets.partitions import PartitionedDataset


class DropInFolderDataset(PartitionedDataset):
    """A PartitionedDataset whose empty folder is no batches rather than an error.

    Kedro's PartitionedDataset refuses to load a folder without partitions; a drop-in folder
    is empty whenever nobody has dropped a file, and monitoring must still run.
    """

    def load(self) -> dict[str, Callable[[], Any]]:
        """Return one loader per file, keyed by its name without the suffix; none for an empty folder."""
        return super().load() if self._list_partitions() else {}
