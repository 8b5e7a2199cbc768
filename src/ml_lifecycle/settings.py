"""Project settings (see https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

from kedro.config import OmegaConfigLoader

from ml_lifecycle.hooks import CheckConfigsAgainstSpecHook, ProduceMissingUpstreamHook

HOOKS = (ProduceMissingUpstreamHook(), CheckConfigsAgainstSpecHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Environments (conf/test, conf/local) override single nested parameters, not whole blocks.
    "merge_strategy": {"parameters": "soft"},
}
