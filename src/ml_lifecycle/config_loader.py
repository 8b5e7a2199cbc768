"""Configuration environments that extend another: `conf/<env>/environment.yml` may say `extends: <env>`.

A problem is a Kedro environment layered over `conf/base`. A variant of a problem (the test
suite's small sample of Adult, a what-if with other modeling settings) extends the problem's
environment instead of copying it: `conf/test/environment.yml` holds `extends: adult`, so a run
with `--env test` reads base, then adult, then test, each merged over the previous one with the
project's merge strategy. Kedro's OmegaConfigLoader knows only base + one environment, hence
this subclass.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from kedro.config import MissingConfigException, OmegaConfigLoader

ENVIRONMENT_FILE = "environment.yml"


class LayeredConfigLoader(OmegaConfigLoader):
    """An OmegaConfigLoader whose run environment may extend another environment (and so on)."""

    def parent_environments(self) -> list[str]:
        """Return the environments the run environment extends, the farthest first."""
        chain: list[str] = []
        current = self.env or self.default_run_env
        while parent := _declared_parent(Path(self.conf_source), current):
            if parent == self.base_env or parent in chain or parent == (self.env or self.default_run_env):
                raise MissingConfigException(
                    f"conf/{current}/{ENVIRONMENT_FILE}: 'extends: {parent}' makes a cycle or names the base environment"
                )
            chain.insert(0, parent)
            current = parent
        return chain

    def file_defining(self, key_path: str) -> str:
        """Return the parameters file that sets `key_path` (e.g. `monitoring.simulation.scenarios[2].toward`) for this run.

        The last environment in the chain that sets the deepest part of the path wins, as it does
        when the files are merged; the result reads `conf/<env>/<file>`.
        """
        conf = Path(self.conf_source)
        steps = [int(s) if s.isdigit() else s for s in re.findall(r"[^.\[\]]+", key_path)]
        best, best_depth = f"params:{steps[0]}", 0
        for env in [self.base_env, *self.parent_environments(), self.env or self.default_run_env]:
            for path in sorted((conf / env).glob("**/parameters*.y*ml")):
                depth = _depth_set(yaml.safe_load(path.read_text(encoding="utf-8")), steps)
                if depth and depth >= best_depth:
                    best, best_depth = f"{conf.name}/{path.relative_to(conf).as_posix()}", depth
        return best

    def __getitem__(self, key: str) -> dict[str, Any]:
        if key in self or key not in self.config_patterns:
            return super().__getitem__(key)
        parents = self.parent_environments()
        if not parents:
            return super().__getitem__(key)
        run_env = self.env
        self.env = parents[-1]
        try:
            inherited = self[key]
        finally:
            self.env = run_env
        env_path = self._get_conf_env_path(run_env or self.default_run_env)
        own = self.load_and_merge_dir_config(
            env_path, self.config_patterns[key], key, set(), read_environment_variables=key == "credentials"
        )
        return self._merge_configs(inherited, own, key, env_path)


def _declared_parent(conf_source: Path, env: str) -> str | None:
    """Return the environment that `conf/<env>/environment.yml` extends, or None."""
    declaration = conf_source / env / ENVIRONMENT_FILE
    if not declaration.is_file():
        return None
    content = yaml.safe_load(declaration.read_text(encoding="utf-8")) or {}
    parent = content.get("extends") if isinstance(content, dict) else None
    if parent is None:
        return None
    if not isinstance(parent, str) or not (conf_source / parent).is_dir():
        raise MissingConfigException(
            f"{declaration}: 'extends' must name an environment folder under {conf_source}; got {parent!r}"
        )
    return parent


def _depth_set(content: Any, steps: list[str | int]) -> int:
    """Return how many leading steps of a key path a parsed YAML document sets."""
    depth = 0
    for step in steps:
        if isinstance(step, int) and isinstance(content, list) and step < len(content):
            content = content[step]
        elif isinstance(step, str) and isinstance(content, dict) and step in content:
            content = content[step]
        else:
            break
        depth += 1
    return depth
