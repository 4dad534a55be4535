"""``extensions.field`` is one thing on every operation: the full path of the value at fault in
the arguments of the field that failed (docs/errors.md), ``input.offers[1]``,
``definition.all[0].attribute.key``, ``first``, never a name the client did not send.

Bad operations of many kinds go through the real HTTP endpoint on the demo store (each is
refused, so nothing is written); every ``extensions.field`` must resolve, through the schema,
to an argument of the field at the error's ``path``, down through input objects and lists.
"""

from __future__ import annotations

import re

import pytest
from graphql import GraphQLInputObjectType, GraphQLList, GraphQLNonNull, GraphQLObjectType

from schema import schema
from tests.conftest import gql

#: (operation, variables): each must fail with a user error naming a field.
BAD_OPERATIONS = [
    ('mutation($i: CampaignInput!) { createCampaign(input: $i) { id } }',
     {"i": {"name": "x", "offers": ["P-BB-500", "P-NOPE"], "waves": [{"channel": "SMS"}]}}),
    ('mutation($i: CampaignInput!) { createCampaign(input: $i) { id } }',
     {"i": {"name": "x", "offers": ["P-BB-500"], "waves": [{"channel": "PIGEON"}]}}),
    ('mutation($i: CampaignInput!) { createCampaign(input: $i) { id } }',
     {"i": {"name": "x", "offers": ["P-BB-500"], "waves": [{"channel": "SMS"}], "controlShare": 0.9}}),
    ('mutation($i: CampaignInput!) { createCampaign(input: $i) { id } }',
     {"i": {"name": "x", "offers": ["P-BB-500"], "waves": [{"channel": "SMS"}],
            "targetDefinition": {"attribute": {"key": "no_such_key", "op": "EQ", "value": "1"}}}}),
    ('mutation($i: OpenComplaintInput!) { openComplaint(input: $i) { id } }',
     {"i": {"customerId": "C-NOBODY", "subject": "Slow", "channelId": "SMS"}}),
    ('mutation($i: OpenComplaintInput!) { openComplaint(input: $i) { id } }',
     {"i": {"customerId": "C-NOBODY", "subject": "  ", "channelId": "SMS"}}),
    ('mutation { escalateComplaint(id: "K-NONE") { id } }', None),
    ('mutation { resolveComplaint(id: "K-NONE") { id } }', None),
    ('mutation($i: ProductRulesInput!) { setProductRules(productId: "P-BB-500", input: $i) { id } }',
     {"i": {"requires": ["P-NOPE"]}}),
    ('mutation($i: ProductRulesInput!) { setProductRules(productId: "P-BB-500", input: $i) { id } }',
     {"i": {"eligibility": {"offerFrom": "2026-12-31", "offerUntil": "2026-01-01"}}}),
    ('mutation($i: ProductRulesInput!) { setProductRules(productId: "P-BB-500", input: $i) { id } }',
     {"i": {"upgradesTo": [{"productId": "P-BB-100", "discount": 2.0}]}}),
    ('mutation($i: ProductRulesInput!) { setProductRules(productId: "P-NOPE", input: $i) { id } }',
     {"i": {"requires": []}}),
    ('query($d: SegmentDefinitionInput!) { previewSegment(definition: $d) { size } }',
     {"d": {"all": [{"contacts": {"days": 0}}]}}),
    ('query($d: SegmentDefinitionInput!) { previewSegment(definition: $d) { size } }',
     {"d": {"any": [{"attribute": {"key": "no_such_key", "op": "EQ", "value": "1"}}]}}),
    ('{ customers(first: 100000) { totalCount } }', None),
    ('{ customers(after: "not a cursor") { totalCount } }', None),
    ('{ customers(first: 1) { edges { node { contacts(first: -1) { totalCount } } } } }', None),
    ('{ complaintStats(slaHours: 0) { total } }', None),
    ('{ campaign(id: "CMP-2026-SUMMER-SECURITY") { audience(wave: 9) { treatment } } }', None),
    ('mutation { launchWave(id: "CMP-NONE", wave: 2) { id } }', None),
    ('mutation { recordConsent(customerId: "C0000001", status: GRANTED) { status } }', None),
    ('mutation { createSegment(name: " ", definition: {holds: {bundle: true}}) { id } }', None),
    ('mutation($p: JSON!) { setContactPolicy(policy: $p) { version } }', {"p": {"quiet_hours": "always"}}),
    ('mutation { recordOfferResponse(customerId: "C0000001", offer: "P-NOPE", response: ACCEPTED, '
     'channel: "SMS") { contactId } }', None),
    ('mutation { createApiKey(name: "x", role: "customer", customerId: "C-NOBODY") { key } }', None),
    ('mutation($r: [CampaignResponseInput!]!) { recordCampaignResponses(id: "CMP-NONE", responses: $r) '
     '{ recorded } }', {"r": [{"customerId": "C0000001", "response": "OPENED"}]}),
]


def _unwrap(kind):  # type: ignore[no-untyped-def]
    while isinstance(kind, (GraphQLNonNull, GraphQLList)):
        kind = kind.of_type
    return kind


def _field_at(path: list) -> object:  # type: ignore[type-arg]
    """The schema field at a response path (list indices skipped; no aliases in these operations)."""
    core = schema._schema
    parent: object = core.query_type
    field = None
    for step in [s for s in path if isinstance(s, str)]:
        if field is not None:
            parent = _unwrap(field.type)
        assert isinstance(parent, GraphQLObjectType), path
        root = parent if step in parent.fields else core.mutation_type
        field = root.fields[step]
    return field


def resolves(field, dotted: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether ``dotted`` (``input.offers[1]``, ``definition.all[0].attribute.key``) names an
    argument of ``field`` and, below it, fields of its input objects."""
    steps = [s for s in re.split(r"\.|\[\d+\]", dotted) if s]
    if not steps or steps[0] not in field.args:
        return False
    kind = _unwrap(field.args[steps[0]].type)
    if kind.name == "JSON":  # a JSON document (setContactPolicy's policy): its keys are not in the schema
        return True
    for step in steps[1:]:
        if not isinstance(kind, GraphQLInputObjectType) or step not in kind.fields:
            return False
        kind = _unwrap(kind.fields[step].type)
    return True


@pytest.mark.parametrize(("operation", "variables"), BAD_OPERATIONS)
def test_every_field_path_names_an_argument_of_the_failing_field(client, operation: str,  # type: ignore[no-untyped-def]
                                                                 variables: dict | None) -> None:
    body = gql(client, operation, variables)
    errors = body.get("errors")
    assert errors, body
    error = errors[0]
    extensions = error["extensions"]
    assert extensions["code"] in ("BAD_USER_INPUT", "NOT_FOUND", "CONFLICT", "PAGE_TOO_LARGE", "FORBIDDEN"), error
    assert extensions.get("field"), f"a user error without extensions.field: {error}"
    assert error.get("path"), error
    field = _field_at(error["path"])
    assert resolves(field, extensions["field"]), (
        f"extensions.field {extensions['field']!r} is not a path in the arguments of "
        f"{'.'.join(str(p) for p in error['path'])} ({sorted(field.args)}): {error}")


def test_the_path_check_refuses_names_that_are_not_arguments() -> None:
    create = schema._schema.mutation_type.fields["createCampaign"]
    assert resolves(create, "input.offers[1]")
    assert resolves(create, "input.targetDefinition.all[0].attribute.key")
    assert not resolves(create, "offers[1]")  # not rooted at the argument
    assert not resolves(schema._schema.mutation_type.fields["escalateComplaint"], "complaintId")
