"""Start the prediction service: `python -m ml_lifecycle.serving [--host H] [--port P] [--env E]` (what `make serve` runs).

Run from the project folder. The address is `serving.host` / `serving.port` of the project's
configuration (environment `--env`, else `KEDRO_ENV`), overridden by `--host` and by `--port`
or `$PORT`. The service refuses to start (exit code 2) on an address other than loopback while
no service token is configured: reachable from other machines, it must have a token for its
admin routes and feedback (docs/serving.md, *Access control*). The client limits of the `serving`
block (head timeout, concurrency cap, keep-alive) are uvicorn's settings, applied here
(docs/serving.md, *Slow and abusive clients*).
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import os
import sys
from pathlib import Path

import uvicorn

from ml_lifecycle.project import project_context
from ml_lifecycle.serving.access import (
    TOKEN_KEY,
    TOKEN_VARIABLE,
    configured_token,
    project_credentials,
)
from ml_lifecycle.serving.config import ServingConfig
from ml_lifecycle.serving.limits import protocol_with_head_timeout

REFUSED = 2  # the exit code of a refused start, as for a command-line error
PORT_VARIABLE = "PORT"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """Return the command line's overrides of the configured address and environment."""
    parser = argparse.ArgumentParser(prog="python -m ml_lifecycle.serving", description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="address to listen on (default: serving.host)")
    parser.add_argument("--port", type=int, help=f"port to listen on (default: ${PORT_VARIABLE}, else serving.port)")
    parser.add_argument("--env", default=os.environ.get("KEDRO_ENV"), help="Kedro environment (default: $KEDRO_ENV, else the default problem)")
    return parser.parse_args(argv)


def is_loopback(host: str) -> bool:
    """Return whether `host` is a loopback address ('localhost' counts; any other name may resolve anywhere)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_refusal(host: str, token: str | None) -> str | None:
    """Return why the service must not listen on `host`, or None when it may."""
    if is_loopback(host) or token is not None:
        return None
    return (f"refusing to listen on {host!r} (serving.host, or --host / make serve HOST=...): it is not a loopback "
            f"address and no service token is configured. Set one first: the environment variable {TOKEN_VARIABLE}, or "
            f"{TOKEN_KEY} in conf/<problem>/credentials.yml; or listen on 127.0.0.1.")


def chosen_port(argument: int | None, configured: int) -> int:
    """Return --port when given, else $PORT when set, else the configured port; exit naming PORT when it is not a number."""
    if argument is not None:
        return argument
    text = os.environ.get(PORT_VARIABLE)
    if not text:
        return configured
    if not text.isdigit():
        sys.exit(f"${PORT_VARIABLE}={text!r} is not a port number")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    """Check the address against the guard, then serve the project in the working folder; return the exit code."""
    arguments = parse_arguments(argv)
    project = Path.cwd()
    context = project_context(project, arguments.env)
    # The merged parameters as configured: `context.params` would first import every pipeline to validate their typed
    # parameters (seconds), and a refused start needs only this block.
    config = ServingConfig.model_validate(context.config_loader["parameters"]["serving"])
    host = arguments.host or config.host
    refusal = bind_refusal(host, configured_token(project_credentials(context)))
    if refusal:
        print(refusal, file=sys.stderr)  # noqa: T201 - the command's own error message
        return REFUSED
    from ml_lifecycle.serving.app import create_app  # noqa: PLC0415 - after the guard: it imports the model libraries (seconds)

    uvicorn.run(functools.partial(create_app, project, arguments.env), factory=True, host=host,
                port=chosen_port(arguments.port, config.port), access_log=False,
                http=protocol_with_head_timeout(config.header_timeout_seconds), limit_concurrency=config.limit_concurrency,
                timeout_keep_alive=config.timeout_keep_alive_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
