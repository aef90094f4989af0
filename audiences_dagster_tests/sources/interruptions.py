"""Stop an import part-way, as a crash would, after its first batch is committed."""

from __future__ import annotations

import pytest

from audiences_dagster.sources import importer
from audiences_dagster.sources.mapping import MappedBatch
from audiences_dagster_tests.support import Workspace


def interrupt_second_batch(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every import, stopping while the second batch is mapped: only the first is committed."""
    map_batch, calls = importer.map_batch, []

    def stop_on_second_batch(*args: object, **kwargs: object) -> MappedBatch:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return map_batch(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(importer, "map_batch", stop_on_second_batch)
        with pytest.raises(KeyboardInterrupt):
            workspace.import_all()
