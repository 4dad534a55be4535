"""The contact policy document (``cdp.outreach.contact_policy``): parsed and checked field by
field, round-tripped through JSON, saved to and loaded from the real stores with a version.
(Evaluating it against audiences is exercised through the campaign and channel-choice tests.)"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from cdp.errors import InvalidInput
from cdp.outreach.contact_policy import DEFAULT_POLICY, ContactPolicy, FrequencyCap, load, save
from graph.store import GraphStore, node_op

NOW = datetime(2024, 6, 1, 12, 0)


def test_a_document_becomes_a_policy_and_fields_left_out_keep_their_defaults() -> None:
    policy = ContactPolicy.from_mapping({"frequency_caps": [{"max_contacts": 1, "days": 3, "channel": "SMS"}],
                                         "quiet_hours": None, "suppress_open_complaints": False})
    assert policy.frequency_caps == (FrequencyCap(1, 3, "SMS"),)
    assert policy.quiet_hours is None and policy.suppress_open_complaints is False
    assert policy.counted_kinds == DEFAULT_POLICY.counted_kinds
    assert policy.complaint_suppression_days == DEFAULT_POLICY.complaint_suppression_days
    assert ContactPolicy.from_mapping(json.loads(policy.to_json())) == policy
    assert "version" not in json.loads(policy.to_json())


@pytest.mark.parametrize(("raw", "field"), [
    ([], "policy"),
    ({"loudness": 3}, "loudness"),
    ({"frequency_caps": {"max_contacts": 1}}, "frequency_caps"),
    ({"frequency_caps": [{"max_contacts": -1, "days": 7}]}, "frequency_caps[0]"),
    ({"frequency_caps": [{"max_contacts": 1, "days": 400}]}, "frequency_caps[0]"),
    ({"frequency_caps": [{"max_contacts": 1, "days": 7, "per": "week"}]}, "frequency_caps[0]"),
    ({"counted_kinds": ["GOSSIP"]}, "counted_kinds"),
    ({"quiet_hours": "late"}, "quiet_hours"),
    ({"complaint_suppression_days": 4000}, "complaint_suppression_days"),
    ({"complaint_suppression_days": True}, "complaint_suppression_days"),
    ({"explicit_consent_purposes": ["WORLD_DOMINATION"]}, "explicit_consent_purposes"),
    ({"exclude_running_campaigns": "yes"}, "exclude_running_campaigns"),
])
def test_a_bad_document_is_refused_naming_the_field(raw: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        ContactPolicy.from_mapping(raw)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_saved_policies_are_loaded_with_a_growing_version(store: GraphStore) -> None:
    store.write([node_op("Channel", [{"id": "SMS", "name": "SMS", "kind": "DIGITAL"}])])
    assert load(store) == DEFAULT_POLICY and load(store).version == 0
    first = save(store, {"frequency_caps": [{"max_contacts": 1, "days": 3, "channel": "SMS"}]}, NOW)
    assert first.version == 1
    assert load(store) == first  # the cache is dropped by the write
    second = save(store, {"quiet_hours": "22-07"}, NOW)
    assert second.version == 2 and load(store, fresh=True).quiet_hours == "22-07"
    assert load(store, fresh=True).frequency_caps == DEFAULT_POLICY.frequency_caps  # a whole new document


@pytest.mark.parametrize(("raw", "field"), [
    ({"frequency_caps": [{"max_contacts": 1, "days": 3, "channel": "PIGEON"}]}, "frequency_caps"),
    ({"explicit_consent_channels": ["PIGEON"]}, "explicit_consent_channels"),
    ({"quiet_hours": "never"}, "quiet_hours"),
])
def test_saving_a_bad_policy_writes_nothing(store: GraphStore, raw: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        save(store, raw, NOW)
    assert caught.value.field == field
    assert load(store, fresh=True) == DEFAULT_POLICY
