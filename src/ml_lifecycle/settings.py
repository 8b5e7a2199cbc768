"""Project settings (see https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

from ml_lifecycle.compute import ComputeHook
from ml_lifecycle.config_loader import LayeredConfigLoader
from ml_lifecycle.hooks import (
    CheckConfigsAgainstSpecHook,
    ProduceMissingUpstreamHook,
    PublishRunHook,
)
from ml_lifecycle.publishing import PublishedContext

# Hooks marked tryfirst run last-registered first: the whole-config check, then the run's Dask client, then
# the run's registration for publishing; then the others, so upstream outputs produced first are the run's too.
HOOKS = (ProduceMissingUpstreamHook(), PublishRunHook(), ComputeHook(), CheckConfigsAgainstSpecHook())

# Catalogs outside a run (kedro-viz, notebooks) load the published version of each dataset (publishing.py).
CONTEXT_CLASS = PublishedContext

CONFIG_LOADER_CLASS = LayeredConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    # A problem is an environment (conf/<problem>/); Adult is the default one. An environment may
    # extend another (conf/test extends adult: config_loader.py).
    "default_run_env": "adult",
    # Environments override single nested parameters, not whole blocks.
    "merge_strategy": {"parameters": "soft"},
}
