from audiences_dagster.config.loader import ConfigError, config_path, load_config
from audiences_dagster.config.models import ENTITY_KEYS, AudiencesConfig, SourceConfig, Tier

__all__ = [
    "ENTITY_KEYS", "AudiencesConfig", "ConfigError", "SourceConfig", "Tier", "config_path", "load_config",
]
