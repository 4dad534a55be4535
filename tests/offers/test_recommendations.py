"""Next-best offers through the real store and HTTP endpoint: only eligible
candidates, ranked by expected value with reasons, channel and time; a
recorded response changes the next answer; segment batches page."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from cdp.analytics.analytics import Analytics
from cdp.offers.recommendations import DECLINED_FACTOR, MARGIN_MONTHS
from cdp.settings import Settings
from graph.model import CHANNELS
from graph.store import GraphStore, node_op, relationship_op
from tests.conftest import BACKENDS, api_client, gql, make_store

PRODUCTS = [
    # id, category, price, cost
    ("P-MOB-S", "MOBILE_DATA", 10.0, 4.0),
    ("P-MOB-L", "MOBILE_DATA", 25.0, 8.0),
    ("P-BB", "BROADBAND", 40.0, 15.0),
    ("P-TV", "TV", 15.0, 5.0),
    ("P-OLD", "VOICE", 5.0, 1.0),
]


@pytest.fixture(params=BACKENDS)
def rec_store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    store = make_store(request.param, tmp_path)
    customers = [f"C{i:02d}" for i in range(40)]
    ops = [
        node_op("Channel", [{"id": c, "name": n, "kind": k, "cost_per_contact": cost} for c, n, k, cost in CHANNELS]),
        node_op("Product", [{"id": p, "name": p, "category": c, "monthly_price": price, "monthly_cost": cost,
                             "lifecycle": "RETIRED" if p == "P-OLD" else "ACTIVE"} for p, c, price, cost in PRODUCTS]),
        relationship_op("REQUIRES", [{"from": "P-TV", "to": "P-BB"}]),
        relationship_op("UPGRADES_TO", [{"from": "P-MOB-S", "to": "P-MOB-L"}]),
        node_op("Customer", [{"id": c, "status": "ACTIVE", "tier": "CONSUMER", "joined_on": date(2020, 1, 1)}
                             for c in customers]),
        node_op("Account", [{"id": f"A-{c}", "type": "POSTPAID", "status": "ACTIVE", "opened_on": date(2020, 1, 1)}
                            for c in customers]),
        relationship_op("HOLDS", [{"from": c, "to": f"A-{c}"} for c in customers]),
    ]
    subs = []
    for i, c in enumerate(customers):
        held = ["P-MOB-S"] + (["P-BB"] if i % 2 == 0 else []) + (["P-TV"] if i % 4 == 0 else [])
        subs += [(f"S-{c}-{p}", c, p) for p in held]
    ops += [
        node_op("Subscription", [{"id": s, "status": "ACTIVE", "since": date(2024, 1, 1), "monthly_fee": 10.0,
                                  "discount": 0.0} for s, _, _ in subs]),
        relationship_op("HAS_SUBSCRIPTION", [{"from": f"A-{c}", "to": s} for s, c, _ in subs]),
        relationship_op("OF_PRODUCT", [{"from": s, "to": p} for s, _, p in subs]),
    ]
    store.write(ops)
    yield store
    store.close()


def test_offers_are_eligible_and_ranked_by_expected_value(rec_store: GraphStore) -> None:
    analytics = Analytics(rec_store, Settings())
    try:
        odd = analytics.recommendations.for_customer("C01", first=5)  # holds P-MOB-S only
        products = [r.product for r in odd]
        assert "P-MOB-S" not in products          # held
        assert "P-OLD" not in products            # retired
        assert "P-TV" not in products             # requires broadband, not held
        assert set(products) == {"P-BB", "P-MOB-L"}
        values = [r.expected_value for r in odd]
        assert values == sorted(values, reverse=True)
        bb = next(r for r in odd if r.product == "P-BB")
        # Half the holders of P-MOB-S hold P-BB: the co-occurrence probability is 0.5.
        assert bb.probability == pytest.approx(20 / (40 + 10), rel=1e-3)
        assert bb.margin == pytest.approx((40 - 15) * MARGIN_MONTHS)
        assert bb.expected_value == pytest.approx(bb.probability * bb.margin, rel=1e-4)
        assert bb.kind == "CROSS_SELL" and any("customers who hold P-MOB-S" in r for r in bb.reasons)
        upgrade = next(r for r in odd if r.product == "P-MOB-L")
        assert upgrade.kind == "UP_SELL"
        assert upgrade.margin == pytest.approx(((25 - 8) - (10 - 4)) * MARGIN_MONTHS)  # the gain over P-MOB-S
        assert bb.channel is not None and bb.best_time is not None
        even = [r.product for r in analytics.recommendations.for_customer("C02", first=5)]  # holds MOB-S + BB
        assert "P-TV" in even and "P-BB" not in even
    finally:
        analytics.close()


def test_graphql_recommendations_responses_and_segments(rec_store: GraphStore, tmp_path: Path) -> None:
    with api_client(Settings(db_path=tmp_path / "unused.lbdb"), rec_store) as http:
        query = '{ customer(id: "C01") { recommendations(first: 3) { offer kind score expectedValue reasons ' \
                'channel bestTime } } }'
        before = gql(http, query)
        assert "errors" not in before, before
        recs = {r["offer"]: r for r in before["data"]["customer"]["recommendations"]}
        assert set(recs) == {"P-BB", "P-MOB-L"}
        answer = gql(http, """mutation { recordOfferResponse(customerId: "C01", offer: "P-BB", response: DECLINED,
            channel: "SMS") { contactId response } }""")
        assert answer["data"]["recordOfferResponse"]["response"] == "DECLINED", answer
        after = {r["offer"]: r for r in gql(http, query)["data"]["customer"]["recommendations"]}
        assert after["P-BB"]["score"] == pytest.approx(recs["P-BB"]["score"] * DECLINED_FACTOR, rel=1e-3)
        assert any("declined this offer" in r for r in after["P-BB"]["reasons"])
        bad = gql(http, """mutation { recordOfferResponse(customerId: "C01", offer: "P-NOPE", response: ACCEPTED,
            channel: "SMS") { contactId } }""")
        assert bad["errors"][0]["extensions"] == {"code": "NOT_FOUND", "field": "offer"}
        page = gql(http, """{ segmentRecommendations(definition: {holds: {product: "P-BB"}}, first: 2, members: 5) {
            size hasNextPage endCursor members { customerId recommendations { offer } } } }""")
        assert "errors" not in page, page
        seg = page["data"]["segmentRecommendations"]
        assert seg["size"] == 20 and seg["hasNextPage"] and len(seg["members"]) == 5
        assert all("P-BB" not in [r["offer"] for r in m["recommendations"]] for m in seg["members"])
        nxt = gql(http, """query($after: String) { segmentRecommendations(definition: {holds: {product: "P-BB"}},
            members: 5, after: $after) { members { customerId } } }""", {"after": seg["endCursor"]})
        ids = [m["customerId"] for m in nxt["data"]["segmentRecommendations"]["members"]]
        assert ids and not set(ids) & {m["customerId"] for m in seg["members"]}
        # a page size out of range is refused naming `members`, as every paged field does
        limit = Settings().max_page_size
        for members, code in ((limit + 1, "PAGE_TOO_LARGE"), (-1, "BAD_USER_INPUT")):
            refused = gql(http, """query($m: Int!) { segmentRecommendations(definition: {holds: {product: "P-BB"}},
                members: $m) { size } }""", {"m": members})
            assert refused["errors"][0]["extensions"]["code"] == code, refused
            assert refused["errors"][0]["extensions"]["field"] == "members", refused


@pytest.fixture(scope="module", params=BACKENDS)
def engine_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """3,000 demo customers (seed 7) with the demo catalogue's rules: enough recent takers
    to calibrate the collaborative model."""
    from cdp.demo import telecom as demo

    data = demo.generate(3_000, seed=7)
    store = make_store(request.param, tmp_path_factory.mktemp("engine"))
    store.bulk_load(data.nodes, data.relationships)
    yield store
    store.close()


def test_small_history_falls_back_to_cooccurrence_share(rec_store: GraphStore) -> None:
    analytics = Analytics(rec_store, Settings())
    try:
        calibration = analytics.recommendations.calibration()
        assert calibration is not None and calibration.method == "none" and calibration.takers == 0
    finally:
        analytics.close()


def test_engine_probability_is_calibrated_ease(engine_store: GraphStore) -> None:
    from cdp.offers.recommendations import MIN_TAKERS

    analytics = Analytics(engine_store, Settings())
    try:
        engine = analytics.recommendations
        data = analytics.data()
        c = engine.calibration(data)
        assert c.method == "isotonic" and c.model == "ease" and c.takers >= MIN_TAKERS
        # Isotonic regression matches the observed take rate on what it was fitted on, and
        # beats the constant rate (whose Brier score is rate x (1 - rate)).
        assert c.predicted == pytest.approx(c.observed, rel=0.05)
        assert c.brier < c.observed * (1 - c.observed)
        seen_reason = False
        for customer_id in data.ids[:40]:
            for r in engine.for_customer(customer_id, first=5):
                assert 0.0 <= r.probability <= 1.0
                assert r.expected_value == pytest.approx(r.probability * r.margin, rel=1e-4, abs=1e-6)
                seen_reason |= any("customers who hold" in text for text in r.reasons)
        assert seen_reason
    finally:
        analytics.close()


def test_holdout_quality_ease_beats_popularity_and_share(engine_store: GraphStore) -> None:
    from datetime import timedelta

    from graph.clock import utc_now
    from cdp.offers.recommendations import holdout_quality

    analytics = Analytics(engine_store, Settings())
    try:
        now = utc_now()
        q = holdout_quality(analytics, now - timedelta(days=180), now, k=10, kinds=("share", "ease"))
        assert q["customers"] > 100 and q["held_out"] >= q["customers"]
        ease, share, popularity = (q["rankings"][n]["expected_value"] for n in ("ease", "share", "popularity"))
        assert ease.users == popularity.users == q["customers"]
        assert ease.recall > 1.1 * popularity.recall and ease.ndcg > 1.3 * popularity.ndcg
        assert ease.ndcg > share.ndcg
        assert q["calibration"]["ease"].method == "isotonic" and q["calibration"]["share"].method == "none"
    finally:
        analytics.close()


def test_graphql_offer_eligibility_explains(rec_store: GraphStore, tmp_path: Path) -> None:
    query = """query($p: ID!) { customer(id: "C01") { offerEligibility(productId: $p) {
        productId eligible kind failing reasons } } }"""
    with api_client(Settings(db_path=tmp_path / "unused.lbdb"), rec_store) as http:
        def check(product: str) -> dict:
            body = gql(http, query, {"p": product})
            assert "errors" not in body, body
            return body["data"]["customer"]["offerEligibility"]

        # C01 holds P-MOB-S on a POSTPAID account; P-TV requires P-BB.
        assert check("P-TV") == {"productId": "P-TV", "eligible": False, "kind": None,
                                 "failing": ["REQUIRES"], "reasons": ["requires one of P-BB"]}
        held = check("P-MOB-S")
        assert held["failing"] == ["HELD"] and held["reasons"] == ["already held (directly or through a bundle)"]
        assert check("P-OLD")["failing"] == ["LIFECYCLE"]
        assert check("P-MOB-L") == {"productId": "P-MOB-L", "eligible": True, "kind": "UP_SELL",
                                    "failing": [], "reasons": []}
        assert check("P-BB")["kind"] == "CROSS_SELL"
        # A rule set over GraphQL shows up at once: P-BB for business accounts only.
        changed = gql(http, """mutation { setProductRules(productId: "P-BB", input: {
            eligibility: {accountTypes: [BUSINESS], minTenureMonths: 600}}) { id } }""")
        assert "errors" not in changed, changed
        bb = check("P-BB")
        assert bb["failing"] == ["ACCOUNT_TYPE", "TENURE"]
        assert bb["reasons"] == ["needs an open BUSINESS account", "needs 600 months of tenure"]
        bad = gql(http, query, {"p": "P-NOPE"})
        assert bad["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert "P-NOPE" in bad["errors"][0]["message"]


def test_the_contact_policy_is_read_once_and_a_change_shows_in_the_next_call(rec_store: GraphStore) -> None:
    """Next-best offers read the contact policy on every call (whom to withhold, which
    channel): it is cached in the store, and a policy write (here, or on Neo4j by another
    server, seen through the change feed) shows in the very next call."""
    from cdp.outreach import contact_policy

    reads: list[str] = []
    rec_store.call_observer = lambda name, seconds, error: reads.append(name)
    policy_read = "contactpolicy_nodes_by_ids"
    analytics = Analytics(rec_store, Settings(change_feed_poll=0))
    try:
        assert {r.product for r in analytics.recommendations.for_customer("C01")} == {"P-BB", "P-MOB-L"}
        assert reads.count(policy_read) == 1
        for _ in range(3):
            assert analytics.recommendations.for_customer("C01")
        assert reads.count(policy_read) == 1, reads  # served from the cache

        # Explicit MARKETING consent: nobody here said yes, so nobody gets offers.
        contact_policy.save(rec_store, {"explicit_consent_purposes": ["MARKETING"]}, datetime(2030, 1, 1))
        assert analytics.recommendations.for_customer("C01") == []
        assert contact_policy.load(rec_store).version == 1
        if rec_store.backend != "neo4j":
            return
        # Another server on the same Neo4j lifts it: this one sees it at its next call.
        other = make_store("neo4j", Path("/nonexistent"), wipe=False)
        try:
            contact_policy.save(other, {"explicit_consent_purposes": []}, datetime(2030, 1, 2))
        finally:
            other.close()
        before = reads.count(policy_read)
        assert {r.product for r in analytics.recommendations.for_customer("C01")} == {"P-BB", "P-MOB-L"}
        assert reads.count(policy_read) == before + 1  # the feed entry dropped the cached policy
        assert contact_policy.load(rec_store).version == 2
    finally:
        rec_store.call_observer = None
        analytics.close()
