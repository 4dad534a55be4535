"""The insights page: pictures of the data beside the playground, drawn from the GraphQL API.

``insights_html()`` renders ``/insights``: a key field (as the playground's) and five panels
drawn by ``cdp/static/cdp/insights.js`` from GraphQL queries sent with the user's key:
revenue concentration (a Lorenz curve), a segment's profile against the base, a campaign's
funnel with its lift and 95% interval, satisfaction by channel, what drives churn risk
among the at-risk customers (``churnDrivers``). The page itself holds no
data (it is open, like the playground's); every figure comes from the API, with the key's
role and masking. Its script and style are served by cdp (``cdp.app.playground.asset_routes``):
nothing is fetched from another origin, so it works offline.
"""

from __future__ import annotations

from cdp.app.playground import OWN_DIR, OWN_PREFIX, script_json, versioned_asset

__all__ = ["CHURN_THRESHOLDS", "INSIGHTS_PATH", "PRESETS", "insights_html"]

#: Where the page is served.
INSIGHTS_PATH = "/insights"

#: Churn probabilities the churn panel offers as "at risk from", highest first; the first is
#: chosen: the portfolios' high-risk threshold (``cdp.relationship.portfolio.HIGH_RISK``, also
#: ``churnDrivers``' default). Lower ones for a base where few customers reach it.
CHURN_THRESHOLDS: tuple[float, ...] = (0.5, 0.3, 0.2, 0.1)

#: Segment definitions the profile panel offers beside the saved segments (``SegmentDefinitionInput``).
PRESETS: tuple[dict, ...] = (
    {"name": "Key accounts", "definition": {"attribute": {"key": "tier", "op": "EQ", "value": "KEY_ACCOUNT"}}},
    {"name": "Business customers", "definition": {"attribute": {"key": "tier", "op": "EQ", "value": "BUSINESS"}}},
    {"name": "Customers of less than a year", "definition": {"attribute": {"key": "tenure_months", "op": "LT",
                                                                            "value": "12"}}},
)


def insights_html(graphql_path: str = "/graphql", playground_path: str = "/graphql") -> str:
    """The insights page. In: the API's path and the playground's (linked). Out: HTML."""
    config = {"graphqlPath": graphql_path, "playgroundPath": playground_path, "presets": list(PRESETS),
              "churnThreshold": CHURN_THRESHOLDS[0]}
    return _PAGE.format(
        css=versioned_asset(OWN_DIR, OWN_PREFIX, "insights.css"),
        js=versioned_asset(OWN_DIR, OWN_PREFIX, "insights.js"),
        config=script_json(config),
        thresholds="".join(f'<option value="{t}">{t:.0%}</option>' for t in CHURN_THRESHOLDS),
        playground=playground_path,
    )


_PAGE = """\
<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>cdp insights</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="{css}" />
  </head>
  <body>
    <form class="cdp-keybar" onsubmit="return false">
      <h1>cdp insights</h1>
      <label for="cdp-key" class="cdp-keybar-label">API key</label>
      <input id="cdp-key" type="password" autocomplete="off" spellcheck="false"
             placeholder="cdp_&hellip; (sent as Authorization: Bearer &lt;key&gt;)" />
      <label title="Kept in this tab's sessionStorage until the tab is closed; never in localStorage.">
        <input id="cdp-remember" type="checkbox" /> Remember for this tab</label>
      <span id="cdp-key-status" class="cdp-keybar-status" role="status"></span>
      <a href="{playground}">Playground</a>
    </form>
    <main class="cdp-grid">
      <section class="cdp-panel" id="panel-concentration" data-state="loading">
        <h2>Value concentration</h2>
        <div class="cdp-note"></div>
        <div id="lorenz-chart"></div>
        <p class="cdp-figures" id="lorenz-figures"></p>
      </section>
      <section class="cdp-panel" id="panel-profile" data-state="loading">
        <h2>Segment profile against the base</h2>
        <select id="segment-select" aria-label="segment"></select>
        <div class="cdp-note"></div>
        <div id="profile-chart"></div>
      </section>
      <section class="cdp-panel" id="panel-campaign" data-state="loading">
        <h2>Campaign funnel and lift</h2>
        <select id="campaign-select" aria-label="campaign"></select>
        <div class="cdp-note"></div>
        <div id="funnel-chart"></div>
        <div id="lift-chart"></div>
      </section>
      <section class="cdp-panel" id="panel-satisfaction" data-state="loading">
        <h2>Satisfaction by channel</h2>
        <div class="cdp-note"></div>
        <div id="satisfaction-chart"></div>
      </section>
      <section class="cdp-panel" id="panel-churn" data-state="loading">
        <h2>What drives churn risk</h2>
        <label>At risk from
          <select id="churn-threshold" aria-label="churn risk threshold">{thresholds}</select></label>
        <div class="cdp-note"></div>
        <div id="churn-chart"></div>
      </section>
    </main>
    <script type="application/json" id="cdp-insights-config">{config}</script>
    <script src="{js}"></script>
  </body>
</html>
"""
