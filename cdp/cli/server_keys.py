"""``cdp keys create`` through a running ``cdp serve`` that holds the embedded store.

The server holds the store's file, so the command cannot write the key itself; it asks
the server instead (the ``createApiKey`` mutation at ``http://CDP_HOST:CDP_PORT/graphql``)
with the development key ``cdp serve --dev-key`` keeps in ``<CDP_DB_PATH>.dev-key``. With
no such key, or no server answering there, the caller reports the lock as it is.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime

from cdp.errors import InvalidInput
from cdp.settings import Settings

CREATE_KEY = """mutation CliCreateKey($name: String!, $role: String!, $scopes: [String!], $operations: [String!],
  $customerId: ID, $expiresAt: DateTime) {
  createApiKey(name: $name, role: $role, scopes: $scopes, operations: $operations, customerId: $customerId,
               expiresAt: $expiresAt) { key apiKey { id role name } } }"""


def create_key(settings: Settings, name: str, role: str, scopes: list[str], operations: list[str],
               customer_id: str | None, expires_at: datetime | None) -> dict | None:
    """Create a key through the server at ``settings.host``:``settings.port`` with the
    development key. Out: ``{"key": ..., "apiKey": {"id", "role", "name"}}``, or ``None``
    when there is no development key or no cdp server answers there.
    Raises ``InvalidInput`` with the server's message when it refuses (a bad role, scope, ...).
    """
    path = settings.dev_key_path
    if not path.exists():
        return None
    variables = {"name": name, "role": role, "scopes": scopes or None, "operations": operations or None,
                 "customerId": customer_id,
                 "expiresAt": expires_at.isoformat() + "+00:00" if expires_at else None}
    request = urllib.request.Request(
        f"http://{settings.host}:{settings.port}/graphql", method="POST",
        data=json.dumps({"query": CREATE_KEY, "variables": variables}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {path.read_text().strip()}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:  # 401: the development key is not this server's
        try:
            body = json.load(exc)
        except ValueError:
            return None
        if exc.code == 401:
            return None
    except (OSError, ValueError):
        return None  # nothing listening there, or not cdp
    if body.get("errors"):
        raise InvalidInput(f"the server at {settings.host}:{settings.port} refused: {body['errors'][0]['message']}")
    return body["data"]["createApiKey"]
