"""Every response the API tests receive is checked against the server's own OpenAPI document.

``check_response`` is an httpx response hook (``api_server.checked_client``
installs it on every client the tests make): it finds the operation the
request reached, requires the response's status and media type to be
declared there, and validates a JSON body against the declared schema with
``jsonschema`` (Draft 2020-12, as OpenAPI 3.1 uses). A response that does
not match fails the test that received it. Server-Sent Event streams are
checked for status and media type; their frames are the event tests' own.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import httpx
from jsonschema import Draft202012Validator

_DOCS: dict[str, dict[str, Any]] = {}
_LOCK = threading.Lock()


def document(base_url: str) -> dict[str, Any]:
    """The server's OpenAPI document, fetched once per server."""
    with _LOCK:
        if base_url not in _DOCS:
            response = httpx.get(f"{base_url}/openapi.json", timeout=30, trust_env=False)
            response.raise_for_status()
            _DOCS[base_url] = response.json()
        return _DOCS[base_url]


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")


def operation(doc: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """(template, operation) for a request; the most literal template wins (``/init`` over ``/{id}``)."""
    matches = [
        (template.count("{"), template, ops[method.lower()])
        for template, ops in doc["paths"].items()
        if method.lower() in ops and _template_regex(template).match(path)
    ]
    if not matches:
        return None
    _, template, op = min(matches, key=lambda m: m[0])
    return template, op


def _validate(doc: dict[str, Any], schema: dict[str, Any], body: Any, where: str) -> None:
    # The document's components ride along, so that "#/components/schemas/..." resolves.
    rooted = {"components": doc["components"], **schema}
    errors = sorted(Draft202012Validator(rooted).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, (
        f"{where}: the response does not match its schema: {errors[0].message} at {list(errors[0].path)}"
    )


def check_response(response: httpx.Response) -> None:
    request = response.request
    base = f"{request.url.scheme}://{request.url.netloc.decode()}"
    doc = document(base)
    method, path = request.method, request.url.path
    where = f"{method} {path} -> {response.status_code}"
    media = response.headers.get("content-type", "").split(";")[0].strip()
    found = operation(doc, method, path)
    if found is None:  # no route, or not with this method: the generic error shape
        refused = 401 if "security" in doc else 404  # with keys, the key is checked before the route
        assert response.status_code in (refused, 404, 405), f"{where}: no operation in the OpenAPI document"
        response.read()
        body = response.json()
        _validate(doc, {"$ref": "#/components/schemas/ErrorBody"}, body, where)
        codes = {
            401: ("missing_api_key", "invalid_api_key"),
            404: ("not_found",),
            405: ("method_not_allowed",),
        }
        assert body["error"]["code"] in codes[response.status_code], f"{where}: {body['error']['code']}"
        return
    template, op = found
    declared = op["responses"].get(str(response.status_code))
    assert declared is not None, f"{where}: status not declared for {method} {template}"
    content = declared.get("content", {})
    by_media = {key.split(";")[0].strip(): value for key, value in content.items()}
    assert media in by_media, f"{where}: {media!r} not declared (declared: {sorted(by_media)})"
    if media != "application/json":
        return
    response.read()
    _validate(doc, by_media[media]["schema"], json.loads(response.content), where)
