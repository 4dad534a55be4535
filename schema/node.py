"""The Relay ``Node`` interface: objects with an identity carry a global id (``cdp.transport.global_ids``).

``globalId`` is the Relay object identifier (configure Relay with
``schemaConfig.nodeInterfaceIdField: "globalId"``); ``id`` stays the domain id clients
already store (docs/api.md). ``Query.node`` / ``Query.nodes`` (``schema.node_lookup``)
fetch any of them by global id.
"""

from __future__ import annotations

import strawberry

from cdp.transport import global_ids


@strawberry.interface(description="An object with a global id (the Relay Object Identification convention). "
                                  "`Query.node(id:)` fetches it again by that id.")
class Node:
    @strawberry.field(description="Opaque, globally unique id of this object (its type and domain id); pass it "
                                  "to `node(id:)` / `nodes(ids:)`. The `id` field stays the domain id.")
    def global_id(self) -> strawberry.ID:
        type_name = self.__strawberry_definition__.name  # type: ignore[attr-defined]
        return strawberry.ID(global_ids.encode(type_name, str(self.id)))  # type: ignore[attr-defined]
