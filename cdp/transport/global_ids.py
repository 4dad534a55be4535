"""Relay global ids: one opaque id per object of the API, naming its type and its domain id.

A global id is the standard base64 of ``"<Type>:<domain id>"`` (``"Customer:C123"``), the
form graphql-relay's ``to_global_id`` writes, so client libraries can read it; clients
should still treat it as opaque. Domain ids (``Customer.id``) are unchanged: the global id
is the separate ``globalId`` field (docs/api.md).
"""

from __future__ import annotations

import base64
import binascii

from cdp.errors import InvalidInput

#: Types with a global id (each implements the ``Node`` interface).
NODE_TYPES = frozenset({"Customer", "Account", "Contact", "Product", "Channel", "Campaign", "Segment",
                        "Complaint"})


def encode(type_name: str, domain_id: str) -> str:
    """The global id of the ``type_name`` object with ``domain_id``."""
    return base64.b64encode(f"{type_name}:{domain_id}".encode()).decode()


def decode(global_id: str, field: str = "id") -> tuple[str, str]:
    """``(type name, domain id)`` of ``global_id``; ``InvalidInput`` naming ``field`` when it is not
    a global id of this API (malformed, or of a type without one)."""
    try:
        text = base64.b64decode(global_id.encode(), validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidInput(f"{field} is not a global id of this API (see Node.globalId)", field=field) from None
    type_name, sep, domain_id = text.partition(":")
    if not sep or not domain_id or type_name not in NODE_TYPES:
        raise InvalidInput(f"{field} is not a global id of this API (see Node.globalId)", field=field)
    return type_name, domain_id
