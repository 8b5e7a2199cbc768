"""Project settings (see https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

from ml_lifecycle.config_loader import LayeredConfigLoader
from ml_lifecycle.hooks import CheckConfigsAgainstSpecHook, ProduceMissingUpstreamHook

HOOKS = (ProduceMissingUpstreamHook(), CheckConfigsAgainstSpecHook())

CONFIG_LOADER_CLASS = LayeredConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    # A problem is an environment (conf/<problem>/); Adult is the default one. An environment may
    # extend another (conf/test extends adult: config_loader.py).
    "default_run_env": "adult",
    # Environments override single nested parameters, not whole blocks.
    "merge_strategy": {"parameters": "soft"},
}
