"""The one resource every asset and check uses: the configured store, migrated once per run."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from audiences_dagster.config import AudiencesConfig, load_config
from audiences_dagster.store.api import Store


class AudiencesResource(dg.ConfigurableResource):
    """audiences.yaml and the store it names. The store URL, when secret, comes from the
    environment variable the config names (store.url_env), never from the file."""

    config_path: str

    _config: AudiencesConfig | None = PrivateAttr(default=None)
    _store: Store | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._config = load_config(self.config_path)
        self._store = Store.from_config(self._config)
        self._store.migrate()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._store is not None:
            self._store.dispose()

    @property
    def config(self) -> AudiencesConfig:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.from_config(self.config)
            self._store.migrate()
        return self._store
