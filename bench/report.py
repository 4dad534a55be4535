"""Targets of the benchmark and the Markdown report of one result set."""

from __future__ import annotations

GIB_KIB = 1024 * 1024

#: (key, description, comparison, threshold): the figures the project promises.
TARGETS = (
    ("bulk_rows_per_second", "bulk load rows/s", ">=", 100_000),
    ("view_p50_ms", "full view p50 (ms)", "<=", 20),
    ("view_p99_ms", "full view p99 (ms)", "<=", 100),
    ("view_requests_per_second", "full view requests/s (without errors)", ">=", 100),
    ("server_peak_rss_gib", "server peak RSS (GiB)", "<=", 4),
)


def evaluate(results: dict) -> list[dict]:
    """Each target with its measured value and whether it is met."""
    view = results["http"]["view"]
    measured = {
        "bulk_rows_per_second": results["bulk_load"]["rows_per_second"],
        "view_p50_ms": view["latency_ms"]["p50"],
        "view_p99_ms": view["latency_ms"]["p99"],
        "view_requests_per_second": view["ok_requests_per_second"],
        "server_peak_rss_gib": round(view["server"]["peak_rss_kib"] / GIB_KIB, 2),
    }
    out = []
    for key, label, op, threshold in TARGETS:
        value = measured[key]
        if value is None:  # e.g. no request answered: no latency, target not met
            met = False
        else:
            met = value >= threshold if op == ">=" else value <= threshold
        out.append({"target": key, "label": label, "goal": f"{op} {threshold:,}", "measured": value, "met": met})
    return out


def _n(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def _http_row(name: str, r: dict) -> str:
    lat = r["latency_ms"]
    return (f"| {name} | {_n(r['requests_per_second'])} | {_ms(lat['p50'])} | {_ms(lat['p90'])} | "
            f"{_ms(lat['p99'])} | {_ms(lat['max'])} | {r['errors']} / {r['requests']:,} | "
            f"{_pct(r['server']['cpu_percent'])} | {_pct(r['client_cpu_percent'])} |")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} %"


def _floor_row(name: str, r: dict) -> str:
    lat = r.get("latency_ms", {})
    return (f"| {name} | {_n(r.get('views_per_second') or 0)} | {_ms(lat.get('p50'))} | {_ms(lat.get('p99'))} | "
            f"{_ms(lat.get('max'))} | {r['errors']} / {r['views']:,} |")


def _errors(results: dict) -> list[str]:
    """One line per phase that had errors, with a sample message."""
    http, floor = results["http"], results["store_floor"]
    out = []
    phases = [("full view", http["view"]), ("`{ __typename }`", http["trivial"])]
    if http.get("view_at_rate"):
        phases.append(("full view, open loop", http["view_at_rate"]))
    for name, r in (*phases, ("floor, 1 thread", floor["single_thread"]), ("floor, threads", floor["multi_thread"])):
        if r.get("errors") and r.get("error_sample"):
            out.append(f"- {name}: {r['errors']:,} errors, e.g. `{r['error_sample'][:400]}`")
    for name, r in phases:
        if r["server"].get("died"):
            out.append(f"- **the server process died** during the {name} phase: {r['server']['died']}")
    if floor.get("crashed"):
        out.append(f"- **the store-floor process crashed**: {floor['crashed']}")
    return (["", "Errors:", "", *out]) if out else []


def markdown(results: dict) -> str:
    """The whole result set as Markdown tables (what ``bench/run.py`` prints)."""
    m, cfg, load, gen = results["machine"], results["config"], results["bulk_load"], results["generation"]
    view, trivial, floor = results["http"]["view"], results["http"]["trivial"], results["store_floor"]
    lines = [
        f"## cdp benchmark: {cfg['customers']:,} customers",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {m['cpu_model']}, {m['usable_cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}; "
        f"Python {m['python']}, ladybug {m['ladybug']}, strawberry {m['strawberry_graphql']}, "
        f"uvicorn {m['uvicorn']}  ",
        f"Load generator: {view['generator']}, on the same {m['usable_cores']} cores as the server; "
        f"{cfg['warmup_seconds']:g} s warm-up, then {cfg['duration_seconds']:g} s measured per phase",
        "",
        "### Bulk load",
        "",
        "| rows | load seconds | rows/s | generation seconds | store size |",
        "|---:|---:|---:|---:|---:|",
        f"| {load['rows']:,} | {load['seconds']:.1f} | {load['rows_per_second']:,} | "
        f"{gen['generate_seconds']:.1f}{' (cached Parquet reused)' if gen['cached'] else ''} | "
        f"{load['store_bytes'] / 2**20:,.0f} MiB |",
        "",
        "### HTTP, concurrency " + str(cfg["concurrency"]),
        "",
        "| query | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors / answered | server CPU | client CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        _http_row("full customer view", view),
        _http_row("`{ __typename }` (framework ceiling)", trivial),
        *([_http_row(f"full customer view, open loop at {cfg['open_loop_rate']:g} req/s",
                     results["http"]["view_at_rate"])] if results["http"].get("view_at_rate") else []),
        "",
        f"Server peak RSS (VmHWM): {view['server']['peak_rss_kib'] / GIB_KIB:.2f} GiB"
        + (f"; full view response: {view['bytes_per_response']:,} bytes (with headers)"
           if view.get("bytes_per_response") else "")
        + ". CPU is % of one core (200 % = both cores).",
        "",
        "### Store floor (the store calls of one view, in Python, no HTTP/GraphQL)",
        "",
        "| mode | views/s | p50 ms | p99 ms | max ms | errors / views |",
        "|---|---:|---:|---:|---:|---:|",
        _floor_row("1 thread", floor["single_thread"]),
        _floor_row(f"{floor['multi_thread']['threads']} threads", floor["multi_thread"]),
        "",
        "Per call, single-threaded p50 ms: " + ", ".join(
            f"{k} {v:.2f}" for k, v in floor["single_thread"].get("per_call_p50_ms", {}).items()),
        "",
        *_errors(results),
        "",
        "### Targets",
        "",
        "| target | goal | measured | met |",
        "|---|---:|---:|:---:|",
    ]
    for t in results["targets"]:
        shown = "n/a" if t["measured"] is None else f"{t['measured']:,}"
        lines.append(f"| {t['label']} | {t['goal']} | {shown} | {'yes' if t['met'] else '**no**'} |")
    return "\n".join(lines) + "\n"
