"""Tests of the demo data generator (cdp.demo.telecom): schemas, determinism, integrity,
realism and the planted churn signals, and the parquet round trip."""

from __future__ import annotations

import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cdp.demo.telecom import DemoData, generate, read_parquet, write_parquet
from cdp.errors import InvalidInput
from graph.model import (
    ACCOUNT_STATUS_VALUES,
    ACCOUNT_TYPE_VALUES,
    CHANNELS,
    CONTACT_DIRECTION_VALUES,
    CONTACT_KIND_VALUES,
    CONTACT_OUTCOME_VALUES,
    CONTRACT_TYPE_VALUES,
    CUSTOMER_STATUS_VALUES,
    GENDER_VALUES,
    MODEL,
    MONETARY_KIND_VALUES,
    PAYMENT_METHOD_VALUES,
    PRODUCT_CATEGORY_VALUES,
    PRODUCT_LIFECYCLE_VALUES,
    SUBSCRIPTION_STATUS_VALUES,
    TIER_VALUES,
)

AS_OF = datetime.date(2026, 11, 1)
CUSTOMERS = 2000


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate(CUSTOMERS, seed=11)


@pytest.fixture(scope="module")
def large() -> DemoData:
    """Enough customers for the statistical signal checks to be far from noise (still < 1 s)."""
    return generate(20_000, seed=5)


def frame(data: DemoData, name: str) -> pd.DataFrame:
    table = data.nodes[name] if name in data.nodes else data.relationships[name]
    return table.to_pandas()


def tables(data: DemoData) -> dict[str, pa.Table]:
    return {**data.nodes, **data.relationships}


def assert_same(a: DemoData, b: DemoData) -> None:
    assert a.nodes.keys() == b.nodes.keys() and a.relationships.keys() == b.relationships.keys()
    for name, table in tables(a).items():
        assert table.equals(tables(b)[name]), name
    pd.testing.assert_frame_equal(a.truth, b.truth)


# ---------------------------------------------------------------- schemas


def test_every_model_table_is_present_with_the_model_schema(data: DemoData) -> None:
    assert list(data.nodes) == [n.label for n in MODEL.nodes]
    assert list(data.relationships) == [r.type for r in MODEL.relationships]
    for node in MODEL.nodes:
        assert data.nodes[node.label].schema.equals(node.arrow_schema()), node.label
    for rel in MODEL.relationships:
        assert data.relationships[rel.type].schema.equals(rel.arrow_schema()), rel.type


def test_row_count_sums_all_tables(data: DemoData) -> None:
    assert data.row_count() == sum(t.num_rows for t in tables(data).values())
    assert data.nodes["Customer"].num_rows == CUSTOMERS


def test_enumerations_come_from_the_model(data: DemoData) -> None:
    checks = {
        ("Customer", "tier"): TIER_VALUES,
        ("Customer", "status"): CUSTOMER_STATUS_VALUES,
        ("Customer", "gender"): GENDER_VALUES,
        ("Account", "type"): ACCOUNT_TYPE_VALUES,
        ("Account", "status"): ACCOUNT_STATUS_VALUES,
        ("Account", "payment_method"): PAYMENT_METHOD_VALUES,
        ("Account", "contract_type"): CONTRACT_TYPE_VALUES,
        ("Product", "category"): PRODUCT_CATEGORY_VALUES,
        ("Product", "lifecycle"): PRODUCT_LIFECYCLE_VALUES,
        ("Subscription", "status"): SUBSCRIPTION_STATUS_VALUES,
        ("Contact", "direction"): CONTACT_DIRECTION_VALUES,
        ("Contact", "kind"): CONTACT_KIND_VALUES,
        ("Contact", "outcome"): CONTACT_OUTCOME_VALUES,
        ("MonetaryEvent", "kind"): MONETARY_KIND_VALUES,
    }
    for (label, column), allowed in checks.items():
        values = set(data.nodes[label].column(column).to_pylist())
        assert values <= set(allowed), (label, column, values - set(allowed))
        assert None not in values, (label, column)
    # every contact kind and monetary kind actually occurs
    assert set(data.nodes["Contact"].column("kind").to_pylist()) == set(CONTACT_KIND_VALUES)
    assert set(data.nodes["MonetaryEvent"].column("kind").to_pylist()) == set(MONETARY_KIND_VALUES)


def test_channels_are_the_model_catalogue(data: DemoData) -> None:
    channels = frame(data, "Channel")
    assert list(channels.itertuples(index=False, name=None)) == list(CHANNELS)


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_identical_tables() -> None:
    assert_same(generate(600, seed=3), generate(600, seed=3))


def test_different_seed_gives_different_tables() -> None:
    a, b = generate(600, seed=3), generate(600, seed=4)
    for label in ("Customer", "Account", "Subscription", "Contact", "MonetaryEvent"):
        assert not a.nodes[label].equals(b.nodes[label]), label
    assert not a.truth.equals(b.truth)


def test_progress_is_reported_per_stage_up_to_the_row_count() -> None:
    calls: list[tuple[str, int]] = []
    result = generate(300, seed=1, progress=lambda stage, rows: calls.append((stage, rows)))
    stages = [c[0] for c in calls]
    assert len(stages) >= 5 and len(set(stages)) == len(stages)
    rows = [c[1] for c in calls]
    assert rows == sorted(rows)
    assert rows[-1] == result.row_count()


@pytest.mark.parametrize("kwargs", [
    {"customers": 0}, {"customers": -5}, {"customers": 2.5}, {"customers": True},
    {"customers": 10, "seed": -1}, {"customers": 10, "as_of": "2026-11-01"},
])
def test_invalid_arguments_raise_invalid_input(kwargs: dict) -> None:
    customers = kwargs.pop("customers")
    with pytest.raises(InvalidInput):
        generate(customers, **kwargs)


# ---------------------------------------------------------------- integrity


def test_ids_are_unique_and_readable(data: DemoData) -> None:
    prefixes = {"Customer": r"C\d{7}", "Account": r"A\d{7}", "Subscription": r"S\d{8}",
                "Contact": r"K\d{8}", "MonetaryEvent": r"M\d{8}", "Product": r"P-[A-Z]+-[A-Z0-9-]+"}
    for label, table in data.nodes.items():
        ids = table.column("id")
        assert ids.null_count == 0
        assert pc.count_distinct(ids).as_py() == table.num_rows, label
        if label in prefixes:
            assert pc.all(pc.match_substring_regex(ids, f"^{prefixes[label]}$")).as_py(), label
    assert data.nodes["Customer"].column("id")[0].as_py() == "C0000001"


def test_every_relationship_endpoint_exists(data: DemoData) -> None:
    for rel in MODEL.relationships:
        table = data.relationships[rel.type]
        assert table.num_rows > 0, rel.type
        for column, label in (("from", rel.source), ("to", rel.target)):
            known = data.nodes[label].column("id")
            assert table.column(column).null_count == 0
            assert pc.all(pc.is_in(table.column(column), value_set=known.combine_chunks())).as_py(), \
                (rel.type, column)


def test_one_owner_per_owned_node(data: DemoData) -> None:
    """Each account has one holder, each subscription one account and product, each contact one
    customer and channel, each event one account; every customer holds an account."""
    for rel, label, end in (("HOLDS", "Account", "to"), ("HAS_SUBSCRIPTION", "Subscription", "to"),
                            ("OF_PRODUCT", "Subscription", "from"), ("HAD_CONTACT", "Contact", "to"),
                            ("VIA", "Contact", "from"), ("HAS_EVENT", "MonetaryEvent", "to")):
        column = data.relationships[rel].column(end)
        assert len(column) == data.nodes[label].num_rows, rel
        assert pc.count_distinct(column).as_py() == len(column), rel
    holders = pc.count_distinct(data.relationships["HOLDS"].column("from")).as_py()
    assert holders == CUSTOMERS


def test_contact_details_are_unique_and_well_formed(data: DemoData) -> None:
    customers = frame(data, "Customer")
    for column in ("national_id", "email", "phone"):
        assert customers[column].is_unique, column
        assert customers[column].notna().all(), column
    assert customers.phone.str.fullmatch(r"\+316\d{8}").all()
    assert customers.email.str.fullmatch(r"[a-z]+\.[a-z]+\d*@[a-z.]+").all()
    assert customers.postal_code.str.fullmatch(r"[1-9]\d{3} [A-Z]{2}").all()
    assert (customers.country == "NL").all()
    first = customers.first_name.str.lower().str.replace(r"[^a-z]", "", regex=True)
    assert (customers.email.str.split(".").str[0] == first).all()


# ---------------------------------------------------------------- realism


def test_tier_shares_and_business_details(data: DemoData) -> None:
    customers = frame(data, "Customer")
    shares = customers.tier.value_counts(normalize=True)
    assert shares["CONSUMER"] == pytest.approx(.90, abs=.03)
    assert shares["BUSINESS"] == pytest.approx(.08, abs=.025)
    assert shares["KEY_ACCOUNT"] == pytest.approx(.02, abs=.012)
    consumer = customers.tier == "CONSUMER"
    key = customers.tier == "KEY_ACCOUNT"
    assert customers.company_name[~consumer].notna().all()
    assert customers.company_name[consumer].isna().all()
    assert customers.account_manager[key].notna().all()
    assert customers.account_manager[~key].isna().all()
    assert customers.city.nunique() >= 25
    top = customers.city.value_counts(normalize=True)
    assert top.iloc[0] > 3 * top.iloc[-1]  # skewed city sizes


def test_adults_who_joined_within_ten_years(data: DemoData) -> None:
    customers = frame(data, "Customer")
    joined = pd.to_datetime(customers.joined_on)
    born = pd.to_datetime(customers.birth_date)
    assert ((joined - born).dt.days >= 18 * 365).all()
    assert joined.max() < pd.Timestamp(AS_OF)
    assert joined.min() >= pd.Timestamp(AS_OF) - pd.Timedelta(days=3660)
    assert (joined < pd.Timestamp(AS_OF) - pd.Timedelta(days=5 * 365)).mean() > .2


def test_accounts_per_tier(data: DemoData) -> None:
    holds = frame(data, "HOLDS")
    customers = frame(data, "Customer").set_index("id")
    per_customer = holds.groupby("from").size()
    tier = customers.tier.loc[per_customer.index]
    consumer = per_customer[tier == "CONSUMER"]
    assert (consumer == 1).mean() > .85 and consumer.max() <= 2
    assert per_customer[tier == "BUSINESS"].between(1, 3).all()
    assert per_customer[tier == "KEY_ACCOUNT"].between(2, 6).all()


def test_catalogue_with_bundles_and_lifecycles(data: DemoData) -> None:
    products = frame(data, "Product")
    includes = frame(data, "INCLUDES")
    assert 25 <= len(products) <= 40
    assert set(products.category) == set(PRODUCT_CATEGORY_VALUES)
    bundles = products[products.category == "BUNDLE"]
    assert 3 <= len(bundles) <= 5
    assert set(includes["from"]) == set(bundles.id)
    category = products.set_index("id").category
    assert (category.loc[includes["to"]] != "BUNDLE").all()
    assert (includes.quantity >= 1).all() and includes.discount.between(0, 1).all()
    lifecycle = products.lifecycle.value_counts()
    assert lifecycle["PLANNED"] == 1 and 2 <= lifecycle["RETIRED"] <= 3
    devices = products[products.category == "DEVICE"]
    assert (devices.one_off_price > 0).all()
    recurring = products[products.category != "DEVICE"]
    assert (recurring.monthly_price > recurring.monthly_cost).all()
    assert {"P-MOB-10GB", "P-BND-FAMILY"} <= set(products.id)


def test_subscription_volumes_and_combinations(data: DemoData) -> None:
    subs = frame(data, "Subscription")
    assert len(subs) / CUSTOMERS == pytest.approx(3.0, abs=.6)
    assert subs.discount.between(0, .3).all()
    of = frame(data, "OF_PRODUCT").set_index("from")["to"]
    has = frame(data, "HAS_SUBSCRIPTION").set_index("to")["from"]
    products = frame(data, "Product").set_index("id")
    subs["product"] = of.loc[subs.id].to_numpy()
    subs["account"] = has.loc[subs.id].to_numpy()
    subs["category"] = products.category.loc[subs["product"]].to_numpy()
    assert "PLANNED" not in set(products.lifecycle.loc[subs["product"]])
    # fee close to the list price (indexation and noise only)
    ratio = subs.monthly_fee / products.monthly_price.loc[subs["product"]].to_numpy()
    assert ratio.between(.7, 1.1).all()
    per_account = subs.groupby("account").category.agg(set)
    mobile_data = per_account[per_account.map(lambda s: "MOBILE_DATA" in s)]
    with_voice = mobile_data.map(lambda s: "VOICE" in s or "BUNDLE" in s).mean()
    assert with_voice > .6
    broadband = per_account[per_account.map(lambda s: "BROADBAND" in s)]
    assert broadband.map(lambda s: "TV" in s).mean() > .3
    assert (subs.category == "BUNDLE").mean() > .05


def test_contact_mix(data: DemoData) -> None:
    contacts = frame(data, "Contact")
    assert len(contacts) / CUSTOMERS == pytest.approx(5.0, abs=1.2)
    via = frame(data, "VIA").set_index("from")["to"]
    contacts["channel"] = via.loc[contacts.id].to_numpy()
    outbound = (contacts.kind == "CAMPAIGN_OFFER") | (contacts.channel == "OUTBOUND_CALL")
    assert (contacts.direction[outbound] == "OUTBOUND").all()
    assert (contacts.direction[~outbound] == "INBOUND").all()
    complaints = contacts[contacts.kind == "COMPLAINT"]
    assert set(complaints.outcome) == {"OPEN", "RESOLVED", "ESCALATED"}
    resolved = complaints[complaints.outcome == "RESOLVED"]
    assert resolved.resolved_at.notna().all()
    assert complaints.resolved_at[complaints.outcome == "OPEN"].isna().all()
    has_resolution = contacts.resolved_at.notna()
    assert (contacts.resolved_at[has_resolution] >= contacts["at"][has_resolution]).all()
    assert (contacts.resolved_at[has_resolution] < pd.Timestamp(AS_OF)).all()
    scores = contacts.satisfaction.dropna()
    assert scores.between(1, 5).all() and 0 < len(scores) < len(contacts)
    assert complaints.satisfaction.mean() < contacts.satisfaction[contacts.kind != "COMPLAINT"].mean() - .5


def test_campaign_contacts_have_a_code_and_waves(data: DemoData) -> None:
    contacts = frame(data, "Contact")
    via = frame(data, "VIA").set_index("from")["to"]
    contacts["channel"] = via.loc[contacts.id].to_numpy()
    campaign = contacts[contacts.kind == "CAMPAIGN_OFFER"]
    assert len(campaign) > 0
    assert campaign.campaign.str.fullmatch(r"CMP-20\d\d-(WINTER|SPRING|SUMMER|AUTUMN)-[A-Z]+").all()
    assert contacts.campaign[contacts.kind != "CAMPAIGN_OFFER"].isna().all()
    assert set(campaign.outcome) == {"ACCEPTED", "DECLINED", "NO_RESPONSE"}
    assert set(campaign.channel) == {"SMS", "OUTBOUND_CALL"}
    # the call wave of each campaign follows its SMS wave
    waves = campaign.groupby(["campaign", "channel"])["at"].min().unstack()
    assert (waves["OUTBOUND_CALL"] > waves["SMS"]).all()
    about = frame(data, "ABOUT").set_index("from")["to"]
    assert campaign.id.isin(about.index).all()
    assert (about.loc[campaign.id].groupby(campaign.campaign.to_numpy()).nunique() == 1).all()


def test_contacts_within_two_years_and_customer_lifetime(data: DemoData) -> None:
    contacts = frame(data, "Contact")
    had = frame(data, "HAD_CONTACT").set_index("to")["from"]
    customers = frame(data, "Customer").set_index("id")
    truth = data.truth.set_index("customer_id")
    owner = had.loc[contacts.id].to_numpy()
    day = contacts["at"].dt.normalize()
    assert (day >= pd.Timestamp(AS_OF) - pd.Timedelta(days=730)).all()
    assert (contacts["at"] < pd.Timestamp(AS_OF)).all()
    assert (day.to_numpy() >= pd.to_datetime(customers.joined_on.loc[owner]).to_numpy()).all()
    churned_on = truth.churned_on.loc[owner].to_numpy()
    ended = ~pd.isna(churned_on)
    assert (day.to_numpy()[ended] <= churned_on[ended]).all()


def test_monetary_events(data: DemoData) -> None:
    events = frame(data, "MonetaryEvent")
    assert 6 <= len(events) / CUSTOMERS <= 10.5
    assert (events.currency == "EUR").all()
    assert (events.amount > 0).all()
    assert (events["at"] < pd.Timestamp(AS_OF)).all()
    owner = frame(data, "HAS_EVENT").set_index("to")["from"]
    accounts = frame(data, "Account").set_index("id")
    events["type"] = accounts.type.loc[owner.loc[events.id]].to_numpy()
    billed = events[events.kind.isin(["INVOICE", "PAYMENT"])]
    assert (billed.type != "PREPAID").all()
    assert (events.type[events.kind == "TOP_UP"] == "PREPAID").all()
    six_months = pd.Timestamp(AS_OF) - pd.Timedelta(days=186)
    assert (billed["at"] >= six_months).all()
    purchases = events[events.kind == "PURCHASE"]
    assert purchases.amount.isin(frame(data, "Product").one_off_price).all()


def test_preferences(data: DemoData) -> None:
    prefers = frame(data, "PREFERS")
    assert prefers["rank"].between(1, 3).all()
    assert set(prefers.source) == {"CUSTOMER", "INFERRED"}
    assert not prefers.duplicated(["from", "to"]).any()
    ranks = prefers.groupby("from")["rank"].agg(sorted)
    assert ranks.map(lambda r: r == list(range(1, len(r) + 1))).all()
    key = frame(data, "Customer").query("tier == 'KEY_ACCOUNT'").id
    favourite = prefers[(prefers["rank"] == 1) & prefers["from"].isin(key)].to
    assert (favourite == "AGENT").mean() > .5


# ---------------------------------------------------------------- dates and churn


def accounts_with_holders(data: DemoData) -> pd.DataFrame:
    accounts = frame(data, "Account")
    holder = frame(data, "HOLDS").set_index("to")["from"]
    customers = frame(data, "Customer").set_index("id")
    accounts["customer"] = holder.loc[accounts.id].to_numpy()
    accounts["joined_on"] = customers.joined_on.loc[accounts.customer].to_numpy()
    accounts["customer_status"] = customers.status.loc[accounts.customer].to_numpy()
    return accounts


def test_account_dates_and_contracts_are_consistent(data: DemoData) -> None:
    accounts = accounts_with_holders(data)
    assert (accounts.opened_on >= accounts.joined_on).all()
    closed = accounts.status == "CLOSED"
    assert accounts.closed_on[closed].notna().all() and accounts.closed_on[~closed].isna().all()
    assert (accounts.closed_on[closed] >= accounts.opened_on[closed]).all()
    assert (accounts.closed_on[closed] < AS_OF).all()
    no_contract = accounts.contract_type == "NO_CONTRACT"
    assert accounts.contract_end[no_contract].isna().all()
    assert accounts.contract_end[~no_contract].notna().all()
    assert (accounts.contract_type[accounts.type == "PREPAID"] == "NO_CONTRACT").all()
    with_contract = accounts[~no_contract]
    term = with_contract.contract_type.map({"MONTHS_12": 12, "MONTHS_24": 24})
    start, end = pd.to_datetime(with_contract.opened_on), pd.to_datetime(with_contract.contract_end)
    months = (end.dt.year - start.dt.year) * 12 + end.dt.month - start.dt.month
    assert (months > 0).all() and (months % term == 0).all()
    ended = end < pd.Timestamp(AS_OF)
    assert .1 < ended.mean() < .9  # some ran out of contract, some renewed
    prepaid = accounts.type == "PREPAID"
    assert accounts.payment_method[prepaid].isin(["CARD", "VOUCHER", "CASH"]).all()


def test_subscription_dates_are_consistent(data: DemoData) -> None:
    subs = frame(data, "Subscription")
    has = frame(data, "HAS_SUBSCRIPTION").set_index("to")["from"]
    of = frame(data, "OF_PRODUCT").set_index("from")["to"]
    accounts = frame(data, "Account").set_index("id")
    products = frame(data, "Product").set_index("id")
    account = has.loc[subs.id].to_numpy()
    opened = accounts.opened_on.loc[account].to_numpy()
    closed_on = accounts.closed_on.loc[account].to_numpy()
    assert (subs.since.to_numpy() >= opened).all()
    assert (subs.since.to_numpy() >= products.launched_on.loc[of.loc[subs.id]].to_numpy()).all()
    ended = subs.until.notna()
    assert (subs.until[ended] >= subs.since[ended]).all()
    assert ((subs.status == "CANCELLED") == ended).all()
    on_closed = pd.notna(closed_on)
    assert (subs.status[on_closed] == "CANCELLED").all()
    assert (subs.until[on_closed].to_numpy() <= closed_on[on_closed]).all()


def test_churned_customers_closed_every_account(data: DemoData) -> None:
    accounts = accounts_with_holders(data)
    all_closed = accounts.groupby("customer").status.agg(lambda s: (s == "CLOSED").all())
    status = frame(data, "Customer").set_index("id").status.loc[all_closed.index]
    assert ((status == "CHURNED") == all_closed).all()
    assert set(status) == {"ACTIVE", "CHURNED"}
    truth = data.truth.set_index("customer_id")
    assert (truth.churned.loc[status.index] == (status == "CHURNED")).all()
    assert truth.churn_probability.between(0, 1).all()
    assert .05 < truth.churned.mean() < .25


def test_churn_depends_on_observable_signals(large: DemoData) -> None:
    """Churn, read from the tables, is more frequent with complaints, without a contract and
    without a bundle; churners complained more and rated contacts lower. Complaints are read as
    the churn model reads them: before its latest cutoff (90 days before ``as_of``), so the
    ongoing problems of the last 60 days (customers who have not left yet) do not count."""
    customers = frame(large, "Customer").set_index("id")
    churned = customers.status == "CHURNED"
    contacts = frame(large, "Contact")
    contacts["customer"] = frame(large, "HAD_CONTACT").set_index("to")["from"].loc[contacts.id].to_numpy()
    every = contacts[contacts.kind == "COMPLAINT"].groupby("customer").size()
    cutoff = pd.Timestamp(AS_OF - datetime.timedelta(days=90))
    complaints = contacts[(contacts.kind == "COMPLAINT") & (contacts["at"] < cutoff)].groupby("customer").size()
    complaints = complaints.reindex(customers.index, fill_value=0)
    many = complaints >= 2
    assert many.sum() > 300
    assert churned[many].mean() > 1.5 * churned[~many].mean()
    assert complaints[churned].mean() > 1.3 * complaints[~churned].mean()

    accounts = accounts_with_holders(large).drop_duplicates("customer").set_index("customer")
    no_contract = (accounts.contract_type == "NO_CONTRACT").reindex(customers.index)
    assert churned[no_contract].mean() > 1.5 * churned[~no_contract].mean()

    scores = contacts.dropna(subset=["satisfaction"]).groupby("customer").satisfaction.mean()
    assert scores[churned.loc[scores.index]].mean() < scores[~churned.loc[scores.index]].mean() - .2

    truth = large.truth.set_index("customer_id")
    assert churned[truth.has_bundle.loc[customers.index]].mean() < churned[~truth.has_bundle].mean()
    short = truth.tenure_years < 1
    assert churned[short].mean() > churned[truth.tenure_years > 5].mean()
    assert ((truth.complaints + truth.problem_complaints).loc[every.index] == every).all()
    assert (truth.complaints + truth.problem_complaints).sum() == every.sum()
    # the drawn churn rate matches the latent probabilities
    assert truth.churned.mean() == pytest.approx(truth.churn_probability.mean(), abs=.01)


def test_ongoing_problems_are_recent_complaints_of_customers_still_here(large: DemoData) -> None:
    """The planted "unhappy now" group: active customers with 2-4 complaints, the first 15-60
    days before ``as_of``, most not resolved; broadband holders and customers out of contract
    more often."""
    truth = large.truth.set_index("customer_id")
    problem = truth.problem_complaints > 0
    assert .03 < problem.mean() < .2
    assert truth.problem_complaints[problem].between(2, 4).all()
    customers = frame(large, "Customer").set_index("id")
    assert (customers.status[problem[problem].index] == "ACTIVE").all()
    contacts = frame(large, "Contact")
    contacts["customer"] = frame(large, "HAD_CONTACT").set_index("to")["from"].loc[contacts.id].to_numpy()
    recent = contacts[(contacts.kind == "COMPLAINT")
                      & (contacts["at"] >= pd.Timestamp(AS_OF - datetime.timedelta(days=60)))]
    per_customer = recent.groupby("customer").size()
    assert (per_customer.reindex(problem[problem].index, fill_value=0) >= truth.problem_complaints[problem]).all()
    assert (recent[recent.customer.isin(problem[problem].index)].outcome != "RESOLVED").mean() > .6
    out_of_contract = truth.out_of_contract & (truth.contract_type != "NO_CONTRACT")
    assert problem[out_of_contract].mean() > 1.5 * problem[~out_of_contract].mean()


# ---------------------------------------------------------------- parquet


def test_parquet_round_trip(data: DemoData, tmp_path: Path) -> None:
    write_parquet(data, tmp_path)
    assert (tmp_path / "nodes" / "Customer.parquet").is_file()
    assert (tmp_path / "relationships" / "HAS_EVENT.parquet").is_file()
    assert (tmp_path / "truth.parquet").is_file()
    assert_same(read_parquet(tmp_path), data)


def test_read_parquet_of_missing_directory_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"Customer\.parquet"):
        read_parquet(tmp_path / "nowhere")


def test_read_parquet_names_a_missing_file(data: DemoData, tmp_path: Path) -> None:
    write_parquet(data, tmp_path)
    (tmp_path / "relationships" / "VIA.parquet").unlink()
    with pytest.raises(InvalidInput, match=r"VIA\.parquet.*missing"):
        read_parquet(tmp_path)


def test_read_parquet_names_a_corrupt_file(data: DemoData, tmp_path: Path) -> None:
    write_parquet(data, tmp_path)
    (tmp_path / "nodes" / "Contact.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(InvalidInput, match=r"Contact\.parquet"):
        read_parquet(tmp_path)


def test_read_parquet_names_a_file_with_the_wrong_schema(data: DemoData, tmp_path: Path) -> None:
    write_parquet(data, tmp_path)
    pq.write_table(data.nodes["Account"].drop_columns(["updated_at"]), tmp_path / "nodes" / "Account.parquet")
    with pytest.raises(InvalidInput, match=r"Account\.parquet"):
        read_parquet(tmp_path)
    write_parquet(data, tmp_path)
    pq.write_table(pa.table({"customer_id": ["C1"]}), tmp_path / "truth.parquet")
    with pytest.raises(InvalidInput, match=r"truth\.parquet"):
        read_parquet(tmp_path)


def test_consents_are_read_as_the_docstring_says(large: DemoData) -> None:
    """The demo's consent statements (cdp.demo.telecom, "Consents"): every one a readable statement
    ``cdp.privacy.consent`` parses, made while the customer was one (not after ``as_of``), each
    mechanism at the share the module docstring documents."""
    from cdp.privacy import consent
    from cdp.demo import telecom as demo

    values = large.nodes["AttributeValue"].to_pandas()
    links = large.relationships["HAS_ATTRIBUTE"].to_pandas().rename(columns={"from": "customer", "to": "id"})
    said = values[values["key"].str.startswith(consent.KEY_PREFIX)].merge(links, on="id")
    assert said["value"].map(consent.status_of).notna().all()
    assert said["key"].map(consent.parse_key).notna().all()
    assert (said["identity_id"] == said["source"] + ":" + said["customer"]).all()  # as recordConsent writes them
    customers = large.nodes["Customer"].to_pandas().set_index("id")
    joined = pd.to_datetime(customers.loc[said["customer"], "joined_on"]).to_numpy()
    assert (said["observed_at"].to_numpy() >= joined).all()
    assert (said["observed_at"] < pd.Timestamp(datetime.date(2026, 11, 1))).all()  # generate()'s default as_of
    n = large.nodes["Customer"].num_rows

    def share(key: str, value: str) -> float:
        return said[(said["key"] == key) & (said["value"] == value)]["customer"].nunique() / n

    for key, value, expected in [("consent_marketing", "granted", demo.CONSENT_AT_SIGN_UP_GRANTED),
                                 ("consent_marketing", "denied", demo.CONSENT_AT_SIGN_UP_DENIED),
                                 ("consent_sms_marketing", "denied", demo.SMS_MARKETING_DENIED),
                                 ("consent_outbound_call", "denied", demo.DO_NOT_CALL),
                                 ("consent_data_sharing", "granted", demo.DATA_SHARING_GRANTED),
                                 ("consent_profiling", "denied", demo.PROFILING_DENIED)]:
        assert share(key, value) == pytest.approx(expected, abs=0.01), (key, value)
    revoked = share("consent_marketing", "revoked") / share("consent_marketing", "granted")
    assert demo.MARKETING_WITHDRAWN < revoked < demo.MARKETING_WITHDRAWN_UNHAPPY  # more among the unhappy
    # A withdrawal comes after the grant it takes back: the effective statement is the withdrawal.
    now = datetime.datetime(2026, 11, 1)
    for _customer, rows in said[said["key"] == "consent_marketing"].groupby("customer"):
        if "revoked" in set(rows["value"]):
            assert consent.refusal(rows.to_dict("records"), "MARKETING", None, now) == "NO_CONSENT_PURPOSE"
