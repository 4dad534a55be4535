/*
 * cdp insights: a few pictures of the data, drawn from the GraphQL API with the user's key.
 *
 * In: the page's JSON config (<script id="cdp-insights-config">): graphqlPath, playgroundPath,
 * presets (segment definitions offered beside the saved segments), churnThreshold (the churn
 * panel's first "at risk from").
 *
 * Panels (each an element with data-state "loading" | "ready" | "empty" | "error"):
 * - value concentration: the Lorenz curve of revenue (valueSegmentation.concentration);
 * - a segment's profile against the base (segment.profile or previewSegment.profile);
 * - a campaign's funnel and its lift with the 95% interval (campaign.report);
 * - satisfaction by channel (satisfactionByChannel);
 * - what drives churn risk: the reasons raising the risk of the highest-risk customers,
 *   counted per feature (churnDrivers); "empty" with a hint while the model is not trained.
 *
 * The key is handled as in the playground (playground.js): in memory, in this tab's
 * sessionStorage only when "remember" is ticked (the same item, so the two pages share it),
 * sent only to this server. Charts are SVG built with DOM calls (no markup from data).
 * No library, nothing from another origin.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("cdp-insights-config").textContent);
  var url = new URL(config.graphqlPath, window.location.href).href;
  var KEY_ITEM = "cdp:playground:key";
  var SVG = "http://www.w3.org/2000/svg";
  var key = "";

  // -- small DOM helpers ----------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function pct(x, digits) { return (100 * x).toFixed(digits === undefined ? 0 : digits) + "%"; }

  function money(x) { return x.toLocaleString("en", { maximumFractionDigits: 0 }); }

  function setPanel(id, state, message) {
    var panel = $(id);
    panel.setAttribute("data-state", state);
    var note = panel.querySelector(".cdp-note");
    note.textContent = message || "";
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // -- the API --------------------------------------------------------------------------------

  var RETRIES = 3; // of an operation refused with BUSY or RATE_LIMITED (heavy lane full; docs/limits.md)

  function wait(seconds) {
    return new Promise(function (resolve) { setTimeout(resolve, 1000 * seconds); });
  }

  /* The data of one GraphQL operation; rejects with a readable message (and the error code).
     BUSY and RATE_LIMITED are retried after the server's retryAfter, a few times. */
  function graphql(query, variables, panel, tries) {
    if (!key) return Promise.reject(new Error("no API key: paste it into the field at the top"));
    tries = tries || 0;
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + key },
      body: JSON.stringify({ query: query, variables: variables || {} })
    }).then(function (response) {
      return response.json();
    }).then(function (body) {
      if (body.errors && body.errors.length) {
        var e = body.errors[0];
        var ext = e.extensions || {};
        if ((ext.code === "BUSY" || ext.code === "RATE_LIMITED") && tries < RETRIES) {
          var seconds = ext.retryAfter || 1;
          if (panel) setPanel(panel, "loading", "The server's heavy lane is busy for this key (" + ext.code +
                              "): trying again in " + seconds + " s\u2026");
          return wait(seconds).then(function () { return graphql(query, variables, panel, tries + 1); });
        }
        throw new Error(e.message + (ext.code ? " (" + ext.code + ")" : ""));
      }
      return body.data;
    });
  }

  // -- value concentration --------------------------------------------------------------------

  function drawLorenz(c) {
    var box = $("lorenz-chart");
    clear(box);
    var W = 360, H = 300, L = 48, B = 36, T = 12, R = 12;
    var w = W - L - R, h = H - T - B;
    var chart = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img",
                             "aria-label": "Lorenz curve of revenue" });
    function x(v) { return L + v * w; }
    function y(v) { return T + (1 - v) * h; }
    [0, 0.25, 0.5, 0.75, 1].forEach(function (v) {
      chart.appendChild(svg("line", { x1: x(0), x2: x(1), y1: y(v), y2: y(v), class: "grid" }));
      chart.appendChild(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, pct(v)));
      chart.appendChild(svg("text", { x: x(v), y: H - B + 16, "text-anchor": "middle", class: "tick" }, pct(v)));
    });
    chart.appendChild(svg("line", { x1: x(0), y1: y(0), x2: x(1), y2: y(1), class: "equality" }));
    var points = [[0, 0]].concat(c.lorenz.map(function (share, i) { return [(i + 1) / c.lorenz.length, share]; }));
    var path = points.map(function (p) { return x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1); }).join(" ");
    chart.appendChild(svg("polygon", { points: path + " " + x(1) + "," + y(1), class: "lorenz-area" }));
    chart.appendChild(svg("polyline", { points: path, class: "lorenz-line", id: "lorenz-line" }));
    points.slice(1).forEach(function (p) {
      chart.appendChild(svg("circle", { cx: x(p[0]), cy: y(p[1]), r: 3, class: "lorenz-point" }));
    });
    chart.appendChild(svg("text", { x: L + w / 2, y: H - 4, "text-anchor": "middle", class: "axis" },
                          "customers, largest revenue first"));
    chart.appendChild(svg("text", { x: 12, y: T + h / 2, "text-anchor": "middle", class: "axis",
                                    transform: "rotate(-90 12 " + (T + h / 2) + ")" }, "share of revenue"));
    box.appendChild(chart);
    $("lorenz-figures").textContent = "Top 20% of customers bring " + pct(c.topShare) + " of last year's revenue (" +
      money(c.totalRevenue) + " in total); Gini " + c.gini.toFixed(2) + ".";
  }

  function loadConcentration() {
    setPanel("panel-concentration", "loading", "Loading\u2026");
    return graphql("{ valueSegmentation { customers concentration { lorenz gini topShare totalRevenue } } }", {},
                   "panel-concentration")
      .then(function (data) {
        var c = data.valueSegmentation.concentration;
        if (!c.totalRevenue) {
          setPanel("panel-concentration", "empty", "No revenue in the last year.");
          return;
        }
        drawLorenz(c);
        setPanel("panel-concentration", "ready", data.valueSegmentation.customers + " customers.");
      })
      .catch(function (e) { setPanel("panel-concentration", "error", e.message); });
  }

  // -- segment profile ------------------------------------------------------------------------

  var PROFILE = "profile { measure kind value segment base lift difference }";

  function drawProfile(items) {
    var box = $("profile-chart");
    clear(box);
    var top = items.slice(0, 8);
    var W = 460, row = 30, L = 170, R = 100, T = 18;
    var H = T + row * top.length + 8;
    var mid = L + (W - L - R) / 2;
    var span = Math.max(1, Math.max.apply(null, top.map(function (i) { return Math.abs(i.difference); })));
    var scale = (W - L - R) / 2 / span;
    var chart = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img",
                             "aria-label": "Segment profile against the base" });
    chart.appendChild(svg("line", { x1: mid, x2: mid, y1: 4, y2: H - 4, class: "zero" }));
    chart.appendChild(svg("text", { x: mid, y: 12, "text-anchor": "middle", class: "tick" },
                          "standardised difference from the base"));
    top.forEach(function (item, i) {
      var yTop = T + i * row + 4;
      var width = Math.abs(item.difference) * scale;
      var label = item.kind === "CATEGORY" ? item.measure + " = " + item.value : item.measure;
      chart.appendChild(svg("text", { x: L - 8, y: yTop + 15, "text-anchor": "end", class: "label" }, label));
      chart.appendChild(svg("rect", {
        x: item.difference >= 0 ? mid : mid - width, y: yTop, width: Math.max(width, 1), height: row - 10,
        class: item.difference >= 0 ? "bar-over profile-bar" : "bar-under profile-bar"
      }));
      var shown = item.kind === "CATEGORY"
        ? pct(item.segment || 0) + " vs " + pct(item.base || 0)
        : (item.segment === null ? "-" : item.segment.toFixed(1)) + " vs " + (item.base === null ? "-" : item.base.toFixed(1));
      chart.appendChild(svg("text", { x: W - 4, y: yTop + 15, "text-anchor": "end", class: "value" }, shown));
    });
    box.appendChild(chart);
  }

  function loadProfile() {
    var choice = $("segment-select").value;
    if (!choice) return Promise.resolve();
    setPanel("panel-profile", "loading", "Loading\u2026");
    var request;
    if (choice.indexOf("preset:") === 0) {
      var preset = config.presets[Number(choice.slice(7))];
      request = graphql("query($d: SegmentDefinitionInput!) { previewSegment(definition: $d, first: 1) { size baseSize " +
                        PROFILE + " } }", { d: preset.definition }, "panel-profile")
        .then(function (data) { return { size: data.previewSegment.size, base: data.previewSegment.baseSize,
                                         profile: data.previewSegment.profile }; });
    } else {
      request = graphql("query($id: ID!) { segment(id: $id) { size share " + PROFILE + " } }",
                        { id: choice }, "panel-profile")
        .then(function (data) {
          var seg = data.segment;
          // The base's size from the share (asking valueSegmentation for it would cost seconds).
          return { size: seg.size, base: seg.share > 0 ? Math.round(seg.size / seg.share) : 0, profile: seg.profile };
        });
    }
    return request.then(function (result) {
      if (!result.size) {
        clear($("profile-chart"));
        setPanel("panel-profile", "empty", "No members: nothing to compare.");
        return;
      }
      drawProfile(result.profile);
      setPanel("panel-profile", "ready", result.size + " members of " + result.base + " customers (" +
               pct(result.size / result.base, 1) + "); members' value vs the base's on the right.");
    }).catch(function (e) { setPanel("panel-profile", "error", e.message); });
  }

  function loadSegments() {
    var select = $("segment-select");
    return graphql("{ segments(first: 100) { edges { node { id name } } } }").then(function (data) {
      var segments = data.segments.edges.map(function (e) { return e.node; });
      clear(select);
      var saved = el("optgroup", { label: "Saved segments" });
      segments.forEach(function (s) { saved.appendChild(el("option", { value: s.id }, [s.name])); });
      var presets = el("optgroup", { label: "Examples" });
      config.presets.forEach(function (p, i) { presets.appendChild(el("option", { value: "preset:" + i }, [p.name])); });
      if (segments.length) select.appendChild(saved);
      select.appendChild(presets);
      return loadProfile();
    }).catch(function (e) { setPanel("panel-profile", "error", e.message); });
  }

  // -- campaign funnel and lift ---------------------------------------------------------------

  function drawFunnel(total) {
    var box = $("funnel-chart");
    clear(box);
    var steps = [["contacted", total.contacted], ["opened", total.opened], ["responded", total.responded],
                 ["converted", total.converted]];
    var W = 420, row = 34, L = 90, R = 110, T = 6;
    var H = T + row * steps.length;
    var most = Math.max(1, total.contacted);
    var chart = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "Campaign funnel" });
    steps.forEach(function (step, i) {
      var width = (W - L - R) * step[1] / most;
      var y = T + i * row;
      chart.appendChild(svg("text", { x: L - 8, y: y + 18, "text-anchor": "end", class: "label" }, step[0]));
      chart.appendChild(svg("rect", { x: L + ((W - L - R) - width) / 2, y: y, width: Math.max(width, 1), height: row - 8,
                                      class: "funnel-bar", "data-step": step[0], "data-count": step[1] }));
      chart.appendChild(svg("text", { x: W - 4, y: y + 18, "text-anchor": "end", class: "value" },
                            step[1] + (i ? " (" + pct(step[1] / most, 1) + ")" : "")));
    });
    box.appendChild(chart);
  }

  function drawLift(lift, note) {
    var box = $("lift-chart");
    clear(box);
    if (!lift) {
      box.appendChild(el("p", { class: "cdp-lift-note" }, ["Lift: " + (note || "not measured")]));
      return;
    }
    var W = 420, H = 88, L = 20, R = 20;
    var lo = Math.min(0, lift.interval.low), hi = Math.max(0, lift.interval.high);
    var pad = (hi - lo) * 0.1 || 0.01;
    lo -= pad; hi += pad;
    function x(v) { return L + (v - lo) / (hi - lo) * (W - L - R); }
    var chart = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "Lift with its 95% interval" });
    chart.appendChild(svg("line", { x1: x(0), x2: x(0), y1: 14, y2: 50, class: "zero" }));
    chart.appendChild(svg("text", { x: x(0), y: 10, "text-anchor": "middle", class: "tick" }, "no lift"));
    chart.appendChild(svg("line", { x1: x(lift.interval.low), x2: x(lift.interval.high), y1: 30, y2: 30,
                                    class: "interval", id: "lift-interval" }));
    chart.appendChild(svg("circle", { cx: x(lift.absolute), cy: 30, r: 5, class: "estimate" }));
    chart.appendChild(svg("text", { x: W / 2, y: 66, "text-anchor": "middle", class: "tick" },
                          "conversion lift " + pct(lift.absolute, 1) + " (95% interval " + pct(lift.interval.low, 1) +
                          " to " + pct(lift.interval.high, 1) + ")" + (lift.significant ? "" : ", not significant")));
    chart.appendChild(svg("text", { x: W / 2, y: 82, "text-anchor": "middle", class: "tick" },
                          "conversion " + pct(lift.treatmentRate, 1) + " contacted vs " + pct(lift.controlRate, 1) +
                          " held out (" + lift.treatment + " vs " + lift.control + " customers)"));
    box.appendChild(chart);
  }

  function loadCampaign() {
    var id = $("campaign-select").value;
    if (!id) return Promise.resolve();
    setPanel("panel-campaign", "loading", "Loading\u2026");
    return graphql("query($id: ID!) { campaign(id: $id) { name status report { total { contacted opened responded " +
                   "converted revenue cost } lift { treatment control treatmentRate controlRate absolute interval { low high } " +
                   "significant } liftNote } } }", { id: id }, "panel-campaign")
      .then(function (data) {
        var report = data.campaign && data.campaign.report;
        if (!report || !report.total.contacted) {
          clear($("funnel-chart"));
          clear($("lift-chart"));
          setPanel("panel-campaign", "empty", "Nobody contacted yet.");
          return;
        }
        drawFunnel(report.total);
        drawLift(report.lift, report.liftNote);
        setPanel("panel-campaign", "ready", data.campaign.status.toLowerCase() + "; revenue " +
                 money(report.total.revenue) + " for " + money(report.total.cost) + " of contact costs.");
      })
      .catch(function (e) { setPanel("panel-campaign", "error", e.message); });
  }

  function loadCampaigns() {
    var select = $("campaign-select");
    return graphql("{ campaigns(first: 100) { edges { node { id name status } } } }").then(function (data) {
      var campaigns = data.campaigns.edges.map(function (e) { return e.node; });
      clear(select);
      campaigns.forEach(function (c) { select.appendChild(el("option", { value: c.id }, [c.name])); });
      if (!campaigns.length) {
        setPanel("panel-campaign", "empty", "No campaigns.");
        return;
      }
      var reported = campaigns.filter(function (c) { return c.status !== "DRAFT"; });
      select.value = (reported[0] || campaigns[0]).id;
      return loadCampaign();
    }).catch(function (e) { setPanel("panel-campaign", "error", e.message); });
  }

  // -- satisfaction by channel ----------------------------------------------------------------

  function loadSatisfaction() {
    setPanel("panel-satisfaction", "loading", "Loading\u2026");
    return graphql("{ satisfactionByChannel { channelId mean count lowShare channel { name } } }", {},
                   "panel-satisfaction")
      .then(function (data) {
        var rows = data.satisfactionByChannel;
        var box = $("satisfaction-chart");
        clear(box);
        if (!rows.length) {
          setPanel("panel-satisfaction", "empty", "No satisfaction scores in the last year.");
          return;
        }
        var W = 460, row = 30, L = 180, R = 130, T = 4;
        var H = T + row * rows.length;
        var chart = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "Satisfaction by channel" });
        rows.forEach(function (r, i) {
          var y = T + i * row;
          var name = (r.channel && r.channel.name) || r.channelId;
          if (name.length > 28) name = name.slice(0, 27) + "\u2026";
          chart.appendChild(svg("text", { x: L - 8, y: y + 16, "text-anchor": "end", class: "label" }, name));
          chart.appendChild(svg("rect", { x: L, y: y, width: Math.max(1, (W - L - R) * r.mean / 5), height: row - 10,
                                          class: "satisfaction-bar" }));
          chart.appendChild(svg("text", { x: W - 4, y: y + 16, "text-anchor": "end", class: "value" },
                                r.mean.toFixed(2) + " / 5, n=" + r.count + ", low " + pct(r.lowShare)));
        });
        box.appendChild(chart);
        setPanel("panel-satisfaction", "ready", "Mean score 1-5 over the last year; low: scores of 2 or less.");
      })
      .catch(function (e) { setPanel("panel-satisfaction", "error", e.message); });
  }

  // -- churn drivers --------------------------------------------------------------------------

  function drawChurn(result) {
    var box = $("churn-chart");
    clear(box);
    var rows = result.drivers.slice(0, 8);
    var W = 460, row = 30, L = 200, R = 130, T = 4;
    var H = T + row * rows.length;
    var chart = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img",
                             "aria-label": "What drives churn risk among the at-risk customers" });
    rows.forEach(function (d, i) {
      var y = T + i * row;
      var name = d.description;
      if (name.length > 32) name = name.slice(0, 31) + "\u2026";
      var label = svg("text", { x: L - 8, y: y + 16, "text-anchor": "end", class: "label" }, name);
      label.appendChild(svg("title", {}, d.feature + ": commonest value " + d.typicalValue));
      chart.appendChild(label);
      chart.appendChild(svg("rect", { x: L, y: y, width: Math.max(1, (W - L - R) * d.share), height: row - 10,
                                      class: "churn-bar", "data-feature": d.feature, "data-customers": d.customers }));
      chart.appendChild(svg("text", { x: W - 4, y: y + 16, "text-anchor": "end", class: "value" },
                            pct(d.share) + " of them, +" + pct(d.meanEffect, 1)));
    });
    box.appendChild(chart);
  }

  function loadChurn() {
    setPanel("panel-churn", "loading", "Loading\u2026");
    return graphql("query($t: Float!) { churnDrivers(threshold: $t) { threshold scored atRisk explained top " +
                   "drivers { feature description customers share meanEffect typicalValue } } }",
                   { t: Number($("churn-threshold").value) }, "panel-churn")
      .then(function (data) {
        var d = data.churnDrivers;
        if (!d.atRisk || !d.drivers.length) {
          clear($("churn-chart"));
          setPanel("panel-churn", "empty", "No customer is at " + pct(d.threshold) + " churn risk or more (" +
                   d.scored + " scored).");
          return;
        }
        drawChurn(d);
        setPanel("panel-churn", "ready", d.atRisk + " of " + d.scored + " scored customers are at " +
                 pct(d.threshold) + " risk or more; the reasons raising the risk of the " + d.explained +
                 " riskiest, per feature: share of them, mean effect on their probability.");
      })
      .catch(function (e) {
        clear($("churn-chart"));
        if (/MODEL_NOT_TRAINED/.test(e.message)) {
          setPanel("panel-churn", "empty", "The churn model is not trained yet: run `cdp train churn` or the " +
                   "trainModel mutation in the playground, then reload.");
          return;
        }
        setPanel("panel-churn", "error", e.message);
      });
  }

  // -- the key --------------------------------------------------------------------------------

  function loadAll() {
    $("cdp-key-status").textContent = key ? "Loading\u2026" : "No key yet: paste it here (`make serve` prints one).";
    if (!key) return;
    // One panel after another: analytic queries run in the server's heavy lane, which takes
    // a few per key at once (docs/limits.md); the page should not crowd out the user's other work.
    // The cheap panels first; value segmentation (clusters and all: seconds on a cold base) last.
    loadSatisfaction().then(loadCampaigns).then(loadSegments).then(loadChurn).then(loadConcentration).then(function () {
      var failed = document.querySelectorAll(".cdp-panel[data-state=error]").length;
      $("cdp-key-status").textContent = failed ? failed + " panel(s) could not be drawn: see their notes." : "Up to date.";
      document.body.setAttribute("data-loaded", "true");
    });
  }

  function sessionStore() {
    try { return window.sessionStorage; } catch (e) { return null; }
  }

  function credentialOf(text) { return text.trim().replace(/^bearer\s+/i, "").trim(); }

  function rememberKey() {
    var s = sessionStore();
    if (!s) return;
    if ($("cdp-remember").checked && key) s.setItem(KEY_ITEM, key);
    else s.removeItem(KEY_ITEM);
  }

  var timer = null;
  $("cdp-key").addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var typed = credentialOf($("cdp-key").value);
      if (typed === key) return;
      key = typed;
      rememberKey();
      loadAll();
    }, 400);
  });
  $("cdp-remember").addEventListener("change", rememberKey);
  $("segment-select").addEventListener("change", loadProfile);
  $("campaign-select").addEventListener("change", loadCampaign);
  $("churn-threshold").addEventListener("change", loadChurn);
  $("churn-threshold").value = String(config.churnThreshold);

  var s = sessionStore();
  var remembered = (s && s.getItem(KEY_ITEM)) || "";
  if (remembered) {
    $("cdp-key").value = remembered;
    $("cdp-remember").checked = true;
    key = credentialOf(remembered);
  }
  loadAll();
})();
