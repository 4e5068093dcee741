"""Reading Stability's answers: each HTTP refusal becomes the core error a user can act on.

Stability's error bodies are `{"id", "name", "errors": [...]}`; the `errors` text is shown for
a 400 because it says which field to fix. Nothing here ever includes the API key.
"""

from __future__ import annotations

from typing import Any

import httpx

from core.errors import (
    ConfigError,
    ContentModerated,
    InvalidInput,
    OutOfCredits,
    ServiceUnavailable,
)


def json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _api_message(response: httpx.Response) -> str:
    data = json_body(response)
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        text = "; ".join(str(e) for e in errors)
    else:
        text = str(data.get("message") or data.get("name") or f"HTTP {response.status_code}")
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status in (200, 202):
        return
    if 300 <= status < 400:
        raise ConfigError(
            f"Stability answered with a redirect (HTTP {status}), which is not followed; "
            "check images.base_url"
        )
    if status in (400, 422):
        raise InvalidInput(f"Stability refused the request: {_api_message(response)}")
    if status == 401:
        raise ConfigError("Stability rejected the API key (HTTP 401); check ABBY_IMAGES__API_KEY")
    if status == 402:
        raise OutOfCredits("the Stability account is out of credits; buy more to continue")
    if status == 403:
        raise ContentModerated(
            "Stability's moderation refused this request; try a different prompt", charged=False
        )
    if status == 404:
        raise ConfigError(
            "Stability has no such endpoint (HTTP 404); check images.base_url and images.model"
        )
    if status == 413:
        raise InvalidInput("the request is too large for Stability (images up to 10 MiB)")
    raise ServiceUnavailable(f"Stability answered HTTP {status}: {_api_message(response)}")
