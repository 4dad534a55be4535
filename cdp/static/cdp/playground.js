/*
 * cdp's GraphQL playground: GraphiQL (vendored, window.GraphiQL) behind a labelled
 * "API key" field.
 *
 * In: the page's JSON config (<script id="cdp-playground-config">): graphqlPath,
 * defaultQuery, noKeyMessage, missingAssetsMessage.
 *
 * - No key: GraphiQL gets schema=null (no introspection, so no error on opening) and a
 *   fetcher that answers locally, asking for the key; nothing is sent.
 * - A key (typed, pasted, or remembered): a new fetcher sending
 *   "Authorization: Bearer <key>"; GraphiQL introspects again whenever its fetcher
 *   changes, so the schema (Docs, autocomplete) follows the key.
 * - The key lives in memory. Only when the user ticks "remember" is it kept in this
 *   tab's sessionStorage (gone when the tab closes); never in localStorage.
 * - GraphiQL's own storage (history "graphiql:queries", favourites, tabs) goes through
 *   headerFreeStorage, which drops every "headers" member before it reaches
 *   localStorage, so a key typed into the Headers tab is not kept either.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("cdp-playground-config").textContent);
  var root = document.getElementById("graphiql");
  var KEY_ITEM = "cdp:playground:key";
  var KEY_DELAY_MS = 400; // introspect once typing pauses, not on every keystroke
  // GraphiQL's storage entries that may hold headers (history, favourites, tabs).
  var ENTRIES_WITH_HEADERS = { "graphiql:queries": true, "graphiql:favorites": true, "graphiql:tabState": true };
  var NEVER_STORED = { "graphiql:headers": true };

  if (!window.React || !window.ReactDOM || !window.GraphiQL) {
    var box = document.createElement("div");
    box.className = "cdp-playground-error";
    box.textContent = config.missingAssetsMessage;
    root.replaceChildren(box);
    return;
  }
  var h = React.createElement;
  var url = new URL(config.graphqlPath, window.location.href).href;

  /* Every "headers" member of a decoded JSON value set to null (GraphiQL reads null as none). */
  function dropHeaders(node) {
    if (Array.isArray(node)) {
      node.forEach(dropHeaders);
    } else if (node && typeof node === "object") {
      Object.keys(node).forEach(function (name) {
        if (name === "headers") node[name] = null;
        else dropHeaders(node[name]);
      });
    }
  }

  /* What may be stored under `name`: the value without headers; null: nothing. */
  function storable(name, value) {
    if (NEVER_STORED[name]) return null;
    if (!ENTRIES_WITH_HEADERS[name]) return value;
    try {
      var parsed = JSON.parse(value);
    } catch (e) {
      return null; // not GraphiQL's JSON: keep nothing rather than something unread
    }
    dropHeaders(parsed);
    return JSON.stringify(parsed);
  }

  function localStore() {
    try {
      return window.localStorage;
    } catch (e) {
      return null; // storage disabled by the browser
    }
  }

  /* A Storage for GraphiQL's `storage` prop: localStorage, minus headers. */
  var headerFreeStorage = {
    getItem: function (name) {
      var s = localStore();
      return s ? s.getItem(name) : null;
    },
    setItem: function (name, value) {
      var s = localStore();
      if (!s) return;
      var kept = storable(name, String(value));
      if (kept === null) s.removeItem(name);
      else s.setItem(name, kept);
    },
    removeItem: function (name) {
      var s = localStore();
      if (s) s.removeItem(name);
    },
    clear: function () {
      var s = localStore();
      if (!s) return;
      Object.keys(s).forEach(function (name) {
        if (name.indexOf("graphiql:") === 0) s.removeItem(name);
      });
    },
    key: function (i) {
      var s = localStore();
      return s ? s.key(i) : null;
    },
    get length() {
      var s = localStore();
      return s ? s.length : 0;
    }
  };

  /* Entries an earlier page (or GraphiQL without this wrapper) left with headers in them. */
  function scrubStoredHeaders() {
    var s = localStore();
    if (!s) return;
    Object.keys(ENTRIES_WITH_HEADERS).concat(Object.keys(NEVER_STORED)).forEach(function (name) {
      var value = s.getItem(name);
      if (value !== null) headerFreeStorage.setItem(name, value);
    });
  }

  function sessionStore() {
    try {
      return window.sessionStorage;
    } catch (e) {
      return null;
    }
  }

  function rememberedKey() {
    var s = sessionStore();
    return (s && s.getItem(KEY_ITEM)) || "";
  }

  function remember(key, yes) {
    var s = sessionStore();
    if (!s) return;
    if (yes && key) s.setItem(KEY_ITEM, key);
    else s.removeItem(KEY_ITEM);
  }

  /* The credential in what was pasted: "Bearer cdp_..." and "cdp_..." both give "cdp_...". */
  function credentialOf(text) {
    return text.trim().replace(/^bearer\s+/i, "").trim();
  }

  function firstError(result) {
    var errors = result && result.errors;
    if (errors && errors.length) return errors[0].message || "unknown error";
    return null;
  }

  /*
   * GraphiQL's fetcher for `key`. Without a key it answers locally (nothing is sent).
   * onSchema(state, detail) hears how introspections end: "loading", "ready", "refused".
   */
  function fetcherFor(key, onSchema) {
    if (!key) {
      return function () {
        return Promise.resolve({ errors: [{ message: config.noKeyMessage }] });
      };
    }
    var send = GraphiQL.createFetcher({
      url: url,
      headers: { Authorization: "Bearer " + key },
      enableIncrementalDelivery: false
    });
    return function (params, options) {
      var answer = send(params, options);
      if (params.operationName === "IntrospectionQuery") {
        onSchema("loading", "");
        Promise.resolve(answer).then(
          function (result) {
            var error = result && result.data && result.data.__schema ? null : firstError(result);
            onSchema(error ? "refused" : "ready", error || "");
          },
          function (err) {
            onSchema("refused", String((err && err.message) || err));
          }
        );
      }
      return answer;
    };
  }

  var STATUS_TEXT = {
    none: "No key yet: paste it here to load the schema. `make serve` prints one (or run `cdp keys create`).",
    loading: "Loading the schema\u2026",
    ready: "Schema loaded: Docs and autocomplete (Ctrl-Space) are ready.",
    refused: "The server refused this key: "
  };

  function Playground() {
    var initial = rememberedKey();
    var typedState = React.useState(initial);
    var typed = typedState[0], setTyped = typedState[1];
    var keyState = React.useState(credentialOf(initial));
    var key = keyState[0], setKey = keyState[1];
    var rememberState = React.useState(initial !== "");
    var keep = rememberState[0], setKeep = rememberState[1];
    var schemaState = React.useState({ state: "none", detail: "" });
    var schema = schemaState[0], setSchema = schemaState[1];

    React.useEffect(function () {
      var timer = setTimeout(function () { setKey(credentialOf(typed)); }, KEY_DELAY_MS);
      return function () { clearTimeout(timer); };
    }, [typed]);

    React.useEffect(function () {
      remember(key, keep);
      if (!key) setSchema({ state: "none", detail: "" });
    }, [key, keep]);

    var fetcher = React.useMemo(function () {
      return fetcherFor(key, function (state, detail) { setSchema({ state: state, detail: detail }); });
    }, [key]);

    var status = STATUS_TEXT[schema.state] + (schema.state === "refused" ? schema.detail : "");
    var bar = h(
      "form",
      { className: "cdp-keybar", onSubmit: function (e) { e.preventDefault(); setKey(credentialOf(typed)); } },
      h("label", { htmlFor: "cdp-key", className: "cdp-keybar-label" }, "API key"),
      h("input", {
        id: "cdp-key",
        name: "cdp-key",
        type: "password",
        autoComplete: "off",
        spellCheck: false,
        placeholder: "cdp_\u2026 (sent as Authorization: Bearer <key>)",
        value: typed,
        onChange: function (e) { setTyped(e.target.value); }
      }),
      h("label", { className: "cdp-keybar-remember", title: "Kept in this tab's sessionStorage until the tab is closed; never in localStorage or the query history." },
        h("input", {
          id: "cdp-remember",
          type: "checkbox",
          checked: keep,
          onChange: function (e) { setKeep(e.target.checked); }
        }),
        " Remember for this tab"),
      h("span", { id: "cdp-key-status", className: "cdp-keybar-status cdp-status-" + schema.state, role: "status" }, status),
      config.insightsPath ? h("a", { className: "cdp-keybar-link", href: config.insightsPath }, "Insights") : null
    );
    return h(
      "div",
      { className: "cdp-playground" },
      bar,
      h("div", { className: "cdp-graphiql" },
        h(GraphiQL, {
          fetcher: fetcher,
          schema: key ? undefined : null,
          storage: headerFreeStorage,
          defaultQuery: config.defaultQuery,
          defaultHeaders: "",
          isHeadersEditorEnabled: true,
          shouldPersistHeaders: false,
          inputValueDeprecation: true
        }))
    );
  }

  scrubStoredHeaders();
  ReactDOM.createRoot(root).render(h(Playground));
})();
