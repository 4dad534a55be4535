"""Evaluating a segment's condition tree on the whole population at once, vectorised.

``Evaluator`` holds one projection snapshot (and the time conditions are evaluated at) and
turns each condition of a parsed definition (``cdp.segments.definition``) into a boolean
mask over the customer rows with numpy and pandas, with no per-customer Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd

from cdp.errors import InvalidInput
from cdp.models.model_card import ModelNotTrained
from cdp.projection.tables import ProjectionData
from cdp.segments.definition import (
    AccountCondition,
    AllOf,
    AnyOf,
    AttributeCondition,
    ContactsCondition,
    HoldsCondition,
    Node,
    Not,
    ScoreCondition,
    SpendChangeCondition,
    SpendCondition,
    definition_error,
)

#: ``scores(name, data)``: per-row floats of score ``name`` (NaN = unscored);
#: raises ``InvalidInput`` when the score is unknown, ``ModelNotTrained`` when its model is untrained.
ScoreLookup = Callable[[str, ProjectionData], np.ndarray]


# --------------------------------------------------------------------------- vectorised evaluation


class Memo(Protocol):
    """Where an ``Evaluator`` keeps whole-base arrays between evaluations (``SegmentEngine.memo``)."""

    def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()``, or what it returned before under ``key``."""


def _us(value: datetime) -> np.datetime64:
    return np.datetime64(value, "us")


class Evaluator:
    """Evaluates nodes for one snapshot at one reference time (arrays over customer rows)."""

    def __init__(self, data: ProjectionData, at: datetime, past: bool, scores: ScoreLookup | None,
                 engine: Memo | None = None) -> None:
        self.data = data
        self.at = at
        self.t = _us(at)
        self.day = _us(datetime(at.year, at.month, at.day))
        self.past = past
        self.scores = scores
        self.engine = engine
        self.n = data.size
        self._held: np.ndarray | None = None
        self._open: np.ndarray | None = None

    def memo(self, name: str, compute: Callable[[], Any], *key: Any) -> Any:
        """``compute()`` cached by the engine per data version, reference minute and ``key``."""
        if self.engine is None:
            return compute()
        return self.engine.memo((name, self.data.version, id(self.data), self.at.replace(second=0, microsecond=0),
                                 self.past, *key), compute)

    def base(self) -> np.ndarray:
        """The base at the reference time: present, not merged, joined by then (when asked as of a time)."""
        return self.memo("base", self._base)

    def _base(self) -> np.ndarray:
        base = self.data.base()
        if self.past:
            joined = self.data.customers["joined_on"].to_numpy()
            base = base & ~(joined > self.t)  # NaT compares False: unknown join dates stay
        return base

    def eval(self, node: Node) -> np.ndarray:
        if isinstance(node, AllOf):
            out = np.ones(self.n, dtype=bool)
            for child in node.children:
                out &= self.eval(child)
            return out
        if isinstance(node, AnyOf):
            out = np.zeros(self.n, dtype=bool)
            for child in node.children:
                out |= self.eval(child)
            return out
        if isinstance(node, Not):
            return ~self.eval(node.child)
        if isinstance(node, AttributeCondition):
            return self.attribute(node)
        if isinstance(node, HoldsCondition):
            return self.holds(node)
        if isinstance(node, AccountCondition):
            return self.account(node)
        if isinstance(node, ContactsCondition):
            counts = self.contact_counts(node.days, node.kinds, node.channels, node.direction, node.outcomes)
            out = counts >= node.at_least
            if node.at_most is not None:
                out &= counts <= node.at_most
            return out
        if isinstance(node, SpendChangeCondition):
            return _compare(self.spend_change(node.days), node.op, node.value, node.to)
        if isinstance(node, SpendCondition):
            return _compare(self.monthly_spend(), node.op, node.value, node.to)
        if isinstance(node, ScoreCondition):
            return _compare(self.score(node), node.op, node.value, node.to)
        raise AssertionError(f"unknown node {node!r}")

    # ---- attributes

    def attribute(self, node: AttributeCondition) -> np.ndarray:
        customers = self.data.customers
        if node.kind == "number":
            source = "joined_on" if node.key == "tenure_months" else "birth_date"
            months = self.months_since(source)
            values = months if node.key == "tenure_months" else np.floor(months / 12.0)
            return _number_op(values, node.op, node.values)
        if node.kind == "date":
            column = customers[node.key].to_numpy().astype("datetime64[us]")
            values = np.where(np.isnat(column), np.nan, column.astype(np.int64).astype(float))
            operands = tuple(float(_us(v).astype(np.int64)) for v in node.values)
            return _number_op(values, node.op, operands)
        if node.kind == "custom":
            values = self.custom_values(node.key)
            if node.op in ("GT", "GTE", "LT", "LTE", "BETWEEN"):
                try:
                    operands = tuple(float(v) for v in node.values)
                except ValueError:
                    return _text_op(values, node.op, node.values)
                numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
                return _number_op(numbers, node.op, operands)
            return _text_op(values, node.op, node.values)
        column = customers[node.key]
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories = column.cat.categories.to_numpy(dtype=object)
            per_category = _text_op(categories, node.op, node.values) if len(categories) else np.zeros(0, bool)
            codes = column.cat.codes.to_numpy()
            missing = node.op == "MISSING"
            if not len(categories):
                return np.full(self.n, missing)
            return np.where(codes >= 0, per_category[np.maximum(codes, 0)], missing)
        return _text_op(column.to_numpy(dtype=object), node.op, node.values)

    def months_since(self, column: str) -> np.ndarray:
        """Whole months from a date column to the reference day (NaN when unknown; at least 0)."""
        return self.memo("months", lambda: self._months_since(column), column)

    def _months_since(self, column: str) -> np.ndarray:
        values = self.data.customers[column].to_numpy().astype("datetime64[D]")
        known = ~np.isnat(values)
        safe = np.where(known, values, np.datetime64("1970-01-01", "D"))
        month_start = safe.astype("datetime64[M]")
        day_of_month = (safe - month_start.astype("datetime64[D]")).astype(np.int64)
        today = self.day.astype("datetime64[D]")
        today_month = today.astype("datetime64[M]")
        today_day = int((today - today_month.astype("datetime64[D]")).astype(np.int64))
        months = (today_month - month_start).astype(np.int64) - (today_day < day_of_month)
        return np.where(known, np.maximum(months, 0), np.nan).astype(float)

    def custom_values(self, key: str) -> np.ndarray:
        """Latest observed value of custom attribute ``key`` per row (observed before the
        reference time when asked as of a time), None where there is none."""
        frame = self.data.facts.get("attributes")
        out = np.full(self.n, None, dtype=object)
        if frame is None or not len(frame):
            return out
        categories = frame["key"].cat.categories
        code = categories.get_indexer([key])[0]
        if code < 0:
            return out
        keep = frame["key"].cat.codes.to_numpy() == code
        observed = frame["observed_at"].to_numpy()
        if self.past:
            keep &= ~(observed >= self.t)
        rows = frame["row"].to_numpy()[keep]
        when = observed[keep].astype("datetime64[us]").astype(np.int64)  # NaT sorts first
        values = frame["value"].to_numpy(dtype=object)[keep]
        order = np.lexsort((when, rows))
        rows, values = rows[order], values[order]
        last = np.ones(len(rows), dtype=bool)
        last[:-1] = rows[1:] != rows[:-1]
        out[rows[last]] = values[last]
        return out

    # ---- relationships

    def held_subscriptions(self) -> np.ndarray:
        """Per subscription row: held at the reference time (ACTIVE or SUSPENDED, or CANCELLED
        with an end after it; started by then; not ended by then)."""
        if self._held is None:
            self._held = self.memo("held", self._held_subscriptions)
        return self._held

    def _held_subscriptions(self) -> np.ndarray:
        subs = self.data.fact("subscriptions")
        since = subs["since"].to_numpy()
        until = subs["until"].to_numpy()
        running = _in_categorical(subs["status"], ("ACTIVE", "SUSPENDED")) | (
            _in_categorical(subs["status"], ("CANCELLED",)) & (until > self.t))
        return running & ~(since > self.t) & ~(until <= self.t)

    def holds(self, node: HoldsCondition) -> np.ndarray:
        subs = self.data.fact("subscriptions")
        match = _in_categorical(subs["product"], list(node.products)) & self.held_subscriptions()
        return np.bincount(subs["row"].to_numpy()[match], minlength=self.n) >= node.min_count

    def monthly_spend(self) -> np.ndarray:
        """Monthly recurring spend per row: net fees of the subscriptions held at the reference
        time that are not suspended (``monthlyRevenue`` of the customer view, for now).
        Cached per data version and minute."""
        return self.memo("spend", self._monthly_spend)

    def _monthly_spend(self) -> np.ndarray:
        subs = self.data.fact("subscriptions")
        billed = self.held_subscriptions() & ~_in_categorical(subs["status"], ("SUSPENDED",))
        fee = np.nan_to_num(subs["monthly_fee"].to_numpy(dtype=float))
        discount = np.nan_to_num(subs["discount"].to_numpy(dtype=float))
        net = np.round(fee * (1.0 - discount), 2)
        return np.round(np.bincount(subs["row"].to_numpy()[billed], weights=net[billed], minlength=self.n), 2)

    def open_accounts(self) -> np.ndarray:
        """Per account row: opened by the reference time and not closed by then."""
        if self._open is None:
            self._open = self.memo("open_accounts", lambda: self._opened() & ~self._closed())
        return self._open

    def _opened(self) -> np.ndarray:
        return self.memo("opened", lambda: ~(self.data.fact("accounts")["opened_on"].to_numpy() > self.t))

    def _closed(self) -> np.ndarray:
        """Per account row: closed by the reference time (closed_on by then, or status
        CLOSED without a closing date)."""
        return self.memo("closed", self._closed_now)

    def _closed_now(self) -> np.ndarray:
        accounts = self.data.fact("accounts")
        closed_on = accounts["closed_on"].to_numpy()
        return (closed_on <= self.t) | (_in_categorical(accounts["status"], ("CLOSED",)) & np.isnat(closed_on))

    def account(self, node: AccountCondition) -> np.ndarray:
        """Accounts' status at the reference time: CLOSED when closed by then; an account
        closed later was ACTIVE before; otherwise its current status."""
        accounts = self.data.fact("accounts")
        closed = self._closed()
        match = self._opened().copy()
        if node.statuses:
            status = accounts["status"]
            later_closed = _in_categorical(status, ("CLOSED",))
            state = np.where(later_closed, "ACTIVE" in node.statuses, _in_categorical(status, node.statuses))
            match &= np.where(closed, "CLOSED" in node.statuses, state)
        else:
            match &= ~closed
        for column, wanted in (("type", node.types), ("contract_type", node.contract_types),
                               ("payment_method", node.payment_methods)):
            if wanted:
                match &= _in_categorical(accounts[column], wanted)
        end = accounts["contract_end"].to_numpy()
        if node.contract == "IN_CONTRACT":
            match &= end >= self.day
        elif node.contract == "OUT_OF_CONTRACT":
            match &= end < self.day
        elif node.contract == "NO_CONTRACT":
            match &= np.isnat(end)
        if node.contract_ends_within_days is not None:
            match &= (end >= self.day) & (end <= self.day + np.timedelta64(node.contract_ends_within_days, "D"))
        return np.bincount(accounts["row"].to_numpy()[match], minlength=self.n) >= node.min_count

    # ---- behaviour

    def contact_counts(self, days: int, kinds: Sequence[str] | None, channels: Sequence[str] | None,
                       direction: str | None, outcomes: Sequence[str] | None) -> np.ndarray:
        """Contacts per row in the ``days`` before the reference time, filtered."""
        contacts = self.data.fact("contacts")
        at = contacts["at"].to_numpy()
        in_window = at >= self.t - np.timedelta64(days, "D")
        if self.past:
            in_window &= at < self.t
        # The window is usually a small part of the history: filter the rest on its rows only.
        picked = np.flatnonzero(in_window)
        for column, wanted in (("kind", kinds), ("channel", channels), ("outcome", outcomes),
                               ("direction", (direction,) if direction else None)):
            if wanted:
                codes = contacts[column].cat.codes.to_numpy()[picked]
                lut = np.append(np.asarray(contacts[column].cat.categories.isin(list(wanted)), dtype=bool), False)
                picked = picked[lut[codes]]
        return np.bincount(contacts["row"].to_numpy()[picked], minlength=self.n)

    def _signed_events(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per event row: time (int64 microseconds), customer row and revenue amount
        (invoices, purchases, top-ups positive; refunds negative; payments 0). Per data version."""
        def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            events = self.data.fact("events")
            amount = np.abs(np.nan_to_num(events["amount"].to_numpy(dtype=float)))
            sign = np.where(_in_categorical(events["kind"], ("INVOICE", "PURCHASE", "TOP_UP")), 1.0,
                            np.where(_in_categorical(events["kind"], ("REFUND",)), -1.0, 0.0))
            at = events["at"].to_numpy().astype("datetime64[us]", copy=False).view(np.int64)  # NaT: smallest
            return at, events["row"].to_numpy(), amount * sign
        return self.engine.memo(("events", self.data.version, id(self.data)), compute) if self.engine \
            else compute()

    def revenue(self, start: datetime, end: datetime | None) -> np.ndarray:
        """Revenue per row in [start, end): invoices, purchases and top-ups minus refunds."""
        at, rows, signed = self._signed_events()
        keep = at >= int(_us(start).astype(np.int64))
        if end is not None:
            keep &= at < int(_us(end).astype(np.int64))
        return np.bincount(rows[keep], weights=signed[keep], minlength=self.n)

    def spend_change(self, days: int) -> np.ndarray:
        """Change in percent of revenue in the last ``days`` against the ``days`` before.

        With no previous revenue (zero or less) the change is +inf when revenue
        grew, -inf when it fell and 0 when both are equal (e.g. both zero).
        """
        at, rows, signed = self._signed_events()
        window = timedelta(days=days)
        start = int(_us(self.at - 2 * window).astype(np.int64))
        middle = int(_us(self.at - window).astype(np.int64))
        keep = at >= start
        if self.past:
            keep &= at < int(self.t.astype(np.int64))
        picked = np.flatnonzero(keep)
        current_window = at[picked] >= middle
        sums = np.bincount(rows[picked] * 2 + current_window, weights=signed[picked], minlength=2 * self.n)
        previous, current = sums[0::2], sums[1::2]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (current - previous) / previous * 100.0
        fallback = np.where(current > previous, np.inf, np.where(current < previous, -np.inf, 0.0))
        return np.where(previous > 0, ratio, fallback)

    def score(self, node: ScoreCondition) -> np.ndarray:
        # An untrained model is MODEL_NOT_TRAINED here as on a customer's score fields (one
        # cause, one code: docs/errors.md), with the node's path as for any bad node.
        path = f"{node.path}.name"
        if self.scores is None:
            raise ModelNotTrained(f"{path}: score {node.name!r} is not available: no model is trained", field=path)
        try:
            values = np.asarray(self.scores(node.name, self.data), dtype=float)
        except ModelNotTrained as exc:
            raise ModelNotTrained(f"{path}: {exc.message}", field=path) from exc
        except InvalidInput as exc:
            raise definition_error(path, exc.message) from exc
        if values.shape != (self.n,):
            raise AssertionError(f"score {node.name} has {values.shape} values for {self.n} customers")
        return values


def _in_categorical(column: pd.Series, wanted: Sequence[str]) -> np.ndarray:
    """Rows of a categorical column whose value is one of ``wanted`` (missing: False).

    A lookup table over the categories with one extra False slot, indexed by
    the codes (code -1, missing, reads the extra slot): one gather per row.
    """
    lut = np.append(np.asarray(column.cat.categories.isin(list(wanted)), dtype=bool), False)
    return lut[column.cat.codes.to_numpy()]


def _compare(values: np.ndarray, op: str, value: float, to: float | None) -> np.ndarray:
    """``values op value`` (NaN never matches)."""
    if op == "GT":
        return values > value
    if op == "GTE":
        return values >= value
    if op == "LT":
        return values < value
    if op == "LTE":
        return values <= value
    return (values >= value) & (values <= (to if to is not None else value))


def _number_op(values: np.ndarray, op: str, operands: Sequence[float]) -> np.ndarray:
    """An attribute operator on floats (NaN is a missing value and matches only MISSING)."""
    present = ~np.isnan(values)
    if op == "EXISTS":
        return present
    if op == "MISSING":
        return ~present
    if op == "EQ":
        return values == operands[0]
    if op == "NE":
        return present & (values != operands[0])
    if op == "IN":
        return np.isin(values, operands)
    if op == "NOT_IN":
        return present & ~np.isin(values, operands)
    if op == "BETWEEN":
        return (values >= operands[0]) & (values <= operands[1])
    return _compare(values, op, operands[0], None)


def _text_op(values: np.ndarray, op: str, operands: Sequence[Any]) -> np.ndarray:
    """An attribute operator on text (case-insensitive; None and "" are missing values,
    which match only MISSING)."""
    series = pd.Series(values, dtype=object)
    present = (series.notna() & (series.astype(str) != "")).to_numpy() if len(series) else np.zeros(0, bool)
    if op == "EXISTS":
        return present
    if op == "MISSING":
        return ~present
    folded = series.where(pd.Series(present), "").astype(str).str.casefold()
    wanted = [str(v).casefold() for v in operands]
    if op == "EQ":
        out = (folded == wanted[0]).to_numpy()
    elif op == "NE":
        out = (folded != wanted[0]).to_numpy()
    elif op == "IN":
        out = folded.isin(wanted).to_numpy()
    elif op == "NOT_IN":
        out = ~folded.isin(wanted).to_numpy()
    elif op == "CONTAINS":
        out = folded.str.contains(wanted[0], regex=False).to_numpy()
    elif op == "BETWEEN":
        out = ((folded >= wanted[0]) & (folded <= wanted[1])).to_numpy()
    else:
        out = {"GT": folded > wanted[0], "GTE": folded >= wanted[0], "LT": folded < wanted[0],
               "LTE": folded <= wanted[0]}[op].to_numpy()
    return present & np.asarray(out, dtype=bool)
