"""Who may change what the service does: a bearer token for `/admin/*` and `/feedback` (and, if asked, `/predict`).

The token comes from the environment variable `SERVING_TOKEN`, else from the key `serving_token`
of the problem's credentials (`conf/<problem>/credentials.yml` or `conf/base/credentials.yml`;
git ignores every credentials file). With no token configured, the protected routes refuse
everyone: a reload or a label must never come from whoever reaches the port.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from fastapi import HTTPException, Request
from kedro.config import MissingConfigException
from kedro.framework.context import KedroContext

TOKEN_VARIABLE = "SERVING_TOKEN"
TOKEN_KEY = "serving_token"


def project_credentials(context: KedroContext) -> dict[str, Any]:
    """Return the problem's credentials, or none when no credentials file exists."""
    try:
        return context.config_loader["credentials"]
    except MissingConfigException:
        return {}


def configured_token(credentials: dict[str, Any]) -> str | None:
    """Return the service token: the environment variable first, then the credentials key; None when neither is set."""
    token = os.environ.get(TOKEN_VARIABLE) or credentials.get(TOKEN_KEY)
    return str(token) if token else None


class BearerToken:
    """A FastAPI dependency that lets a request through only with `Authorization: Bearer <the token>`."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    def __call__(self, request: Request) -> None:
        if self.token is None:
            raise HTTPException(403, f"this route needs a token and none is configured: set {TOKEN_VARIABLE} or "
                                     f"{TOKEN_KEY} in the problem's credentials.yml (docs/serving.md)")
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not sent:
            raise HTTPException(401, "missing bearer token: send 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(sent.encode(), self.token.encode()):  # constant time: the comparison leaks nothing
            raise HTTPException(403, "wrong token")
