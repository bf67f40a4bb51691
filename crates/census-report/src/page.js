// The report's script: records errors on <body data-error>, marks <body data-ready> when set
// up, and runs the neuron browser (layer data is loaded on demand from data/<model>/layer-LL.js).
"use strict";
(function () {
  const body = document.body;
  const fail = (message) => {
    body.dataset.error = (body.dataset.error || "") + message + "\n";
    const box = document.getElementById("errors");
    if (box) { box.hidden = false; box.textContent += message + "\n"; }
  };
  window.addEventListener("error", (e) => fail(String(e.message)));
  window.addEventListener("unhandledrejection", (e) => fail(String(e.reason)));
  const consoleError = console.error.bind(console);
  console.error = (...args) => { fail(args.join(" ")); consoleError(...args); };

  const data = JSON.parse(document.getElementById("census-data").textContent);
  const layers = {};
  window.censusLayer = (model, layer, values) => { layers[model + "/" + layer] = values; };
  const load = (model, layer) => new Promise((resolve, reject) => {
    const key = model + "/" + layer;
    if (layers[key]) { resolve(layers[key]); return; }
    const script = document.createElement("script");
    script.src = "data/" + model + "/layer-" + String(layer).padStart(2, "0") + ".js";
    script.onload = () => layers[key] ? resolve(layers[key]) : reject(new Error("no data in " + script.src));
    script.onerror = () => reject(new Error("cannot load " + script.src));
    document.head.appendChild(script);
  });

  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  };
  // The title of a shown token: its raw string and, where recorded, its id(s).
  const tokenTitle = (raw, ids) => raw + (ids === undefined || ids === null ? "" : " · id " + [].concat(ids).join(" "));
  // Tokens shown readably, each in a <code> whose title is the raw token string and its id.
  const tokenCodes = (shown, raw, ids) => {
    const span = el("span", {});
    shown.forEach((t, i) => {
      if (i) span.append(" ");
      span.append(el("code", { title: tokenTitle(raw ? raw[i] : t, ids ? ids[i] : null) }, t));
    });
    return span;
  };
  const fmt = (x, digits) => x === null || x === undefined ? "–" : (typeof x === "number" ? x.toLocaleString(undefined, { maximumFractionDigits: digits ?? 4 }) : String(x));
  const curveSvg = (first, curve) => {
    const w = 520, h = 140, n = Math.max(curve.length - 1, 1);
    const points = curve.map((v, i) => (i / n * (w - 40) + 30).toFixed(1) + "," + (h - 20 - v * (h - 30)).toFixed(1)).join(" ");
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("class", "curve");
    svg.innerHTML = '<line x1="30" y1="' + (h - 20) + '" x2="' + (w - 10) + '" y2="' + (h - 20) + '" stroke="#999"/>' +
      '<line x1="30" y1="10" x2="30" y2="' + (h - 20) + '" stroke="#999"/>' +
      '<text x="2" y="16" font-size="11">1</text><text x="2" y="' + (h - 20) + '" font-size="11">0</text>' +
      '<text x="30" y="' + (h - 4) + '" font-size="11">' + first + '</text>' +
      '<text x="' + (w - 50) + '" y="' + (h - 4) + '" font-size="11">' + (first + curve.length - 1) + '</text>' +
      '<polyline fill="none" stroke="#762a83" stroke-width="1.5" points="' + points + '"/>';
    return svg;
  };

  const view = document.getElementById("neuron-view");
  const form = document.getElementById("neuron-form");

  // Every neuron of the shown layer in a table: sortable on every column, filtered by kind,
  // 100 rows a page, so even a 36,864-neuron layer stays fast.
  const PAGE = 100;
  const table = { model: null, layer: null, values: null, key: "frequency", descending: true, filter: "all", page: 0 };
  const tableBox = document.getElementById("neuron-table");
  const columns = [
    ["neuron", "neuron", (v, r) => v.neuron[r]],
    ["frequency", "frequency", (v, r) => v.frequency[r]],
    ["fires", "fires", (v, r) => v.fires[r]],
    ["dead", "dead", (v, r) => v.dead[r] ? 1 : 0],
    ["unigrams", "uni", (v, r) => v.coverage[r][0]],
    ["bigrams", "bi", (v, r) => v.coverage[r][1]],
    ["trigrams", "tri", (v, r) => v.coverage[r][2]],
    ["detector", "detector", (v, r) => (v.detectors[String(v.neuron[r])] || {}).kind || ""],
    ["mi", "MI", (v, r) => v.mi[r]],
    ["type", "positional", (v, r) => v.type[r] ? v.type[r] + (v.strong[r] ? "" : " (weak)") : ""],
  ];
  const filters = {
    all: () => true,
    alive: (v, r) => !v.dead[r],
    dead: (v, r) => v.dead[r],
    token: (v, r) => (v.detectors[String(v.neuron[r])] || {}).kind === "token",
    trigram: (v, r) => (v.detectors[String(v.neuron[r])] || {}).kind === "trigram",
    positional: (v, r) => Boolean(v.type[r]),
    oscillatory: (v, r) => v.type[r] === "oscillatory",
    "both-extremes": (v, r) => v.type[r] === "both-extremes",
    "one-extreme": (v, r) => v.type[r] === "one-extreme",
    other: (v, r) => v.type[r] === "other",
  };
  const compare = (a, b) => (a === null || a === undefined) - (b === null || b === undefined) || (a < b ? -1 : a > b ? 1 : 0);
  function renderTable() {
    const v = table.values;
    if (!v) return;
    const pick = columns.find((c) => c[0] === table.key)[2];
    const rows = v.neuron.map((_, r) => r).filter((r) => filters[table.filter](v, r));
    rows.sort((a, b) => {
      const va = pick(v, a), vb = pick(v, b);
      if (va === null || va === undefined) return 1;
      if (vb === null || vb === undefined) return -1;
      return (table.descending ? -1 : 1) * compare(va, vb) || v.neuron[a] - v.neuron[b];
    });
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    table.page = Math.min(table.page, pages - 1);
    const info = data.models.find((m) => m.slug === table.model);
    const select = el("select", { name: "filter" });
    for (const name of Object.keys(filters)) {
      const option = el("option", { value: name }, name);
      if (name === table.filter) option.selected = true;
      select.append(option);
    }
    select.addEventListener("change", () => { table.filter = select.value; table.page = 0; renderTable(); });
    const turn = (delta, label) => {
      const button = el("button", { type: "button" }, label);
      button.disabled = table.page + delta < 0 || table.page + delta >= pages;
      button.addEventListener("click", () => { table.page += delta; renderTable(); });
      return button;
    };
    const head = el("tr", {});
    for (const [key, label] of columns) {
      const th = el("th", { "data-key": key, class: "sortable" }, label + (table.key === key ? (table.descending ? " ▾" : " ▴") : ""));
      th.addEventListener("click", () => {
        table.descending = table.key === key ? !table.descending : key !== "neuron";
        table.key = key; table.page = 0; renderTable();
      });
      head.append(th);
    }
    const grid = el("table", { class: "neurons" }, head);
    for (const r of rows.slice(table.page * PAGE, (table.page + 1) * PAGE)) {
      const neuron = v.neuron[r];
      const link = el("a", { href: "#browser", "data-row": String(neuron) }, String(neuron));
      link.addEventListener("click", (e) => {
        e.preventDefault();
        form.model.value = table.model; form.layer.value = table.layer; form.neuron.value = neuron;
        show(table.model, table.layer, neuron).catch((err) => fail(String(err)));
      });
      const cells = columns.slice(1).map(([key, , get]) => {
        const x = get(v, r);
        if (key === "dead") return x ? "yes" : "";
        return typeof x === "number" ? fmt(x, key === "frequency" || key === "mi" ? 4 : 0) : x;
      });
      grid.append(el("tr", {}, el("td", {}, link), ...cells.map((c) => el("td", {}, c))));
    }
    tableBox.replaceChildren(
      el("p", {}, (info ? info.name : table.model) + " · layer " + table.layer + ": " + rows.length + " of " + v.neuron.length + " neurons · show ", select, " ",
        turn(-1, "◀"), " page " + (table.page + 1) + " of " + pages + " ", turn(1, "▶")),
      grid,
    );
    tableBox.dataset.rows = String(rows.length);
    tableBox.dataset.first = rows.length ? String(v.neuron[rows[table.page * PAGE]]) : "";
  }
  async function show(model, layer, neuron) {
    const values = await load(model, layer);
    if (table.model !== model || table.layer !== layer) {
      Object.assign(table, { model, layer, values, page: 0 });
      renderTable();
    }
    const row = values.neuron.indexOf(neuron);
    view.replaceChildren();
    if (row < 0) { view.append(el("p", {}, "Layer " + layer + " has no neuron " + neuron + ".")); return; }
    const info = data.models.find((m) => m.slug === model);
    view.append(el("h3", {}, (info ? info.name : model) + " · layer " + layer + " · neuron " + neuron));
    const facts = el("table", { class: "facts" });
    const fact = (k, v) => facts.append(el("tr", {}, el("th", {}, k), el("td", {}, v)));
    fact("fires", fmt(values.fires[row], 0));
    fact("fires on </s>", fmt(values.fires_bos[row], 0));
    fact("activation frequency", fmt(values.frequency[row], 5));
    fact("dead", values.dead[row] ? "yes" : "no");
    fact("n-grams covering 95% (uni / bi / tri)", values.coverage[row].map((c) => fmt(c, 0)).join(" / "));
    fact("MI with position", fmt(values.mi[row], 4));
    fact("positional type", values.type[row] ? values.type[row] + (values.strong[row] ? " (strong)" : " (weak)") : "–");
    view.append(facts);
    const detector = values.detectors[String(neuron)];
    if (detector) {
      view.append(el("h4", {}, detector.kind + " detector, coverage " + fmt(detector.coverage * 100, 1) + "%"));
      const list = el("ul", {});
      detector.triggers.forEach((t, i) => list.append(el("li", {}, el("code", { title: tokenTitle(detector.triggers_raw[i], (detector.trigger_ids || [])[i]) }, t), " × " + fmt(detector.trigger_fires[i], 0))));
      view.append(list);
      if (detector.promoted) {
        view.append(el("p", {}, "promoted: ", tokenCodes(detector.promoted, detector.promoted_raw, detector.promoted_ids)));
        view.append(el("p", {}, "suppressed: ", tokenCodes(detector.suppressed, detector.suppressed_raw, detector.suppressed_ids)));
        view.append(el("p", {}, "suppresses its triggers: " + (detector.suppresses_triggers === null ? "–" : detector.suppresses_triggers ? "yes" : "no")));
      }
    }
    const projection = values.projections[String(neuron)];
    if (projection && !(detector && detector.promoted)) {
      view.append(el("h4", {}, "its update on the vocabulary"));
      view.append(el("p", {}, "promoted: ", tokenCodes(projection.promoted, projection.promoted_raw, projection.promoted_ids)));
      view.append(el("p", {}, "suppressed: ", tokenCodes(projection.suppressed, projection.suppressed_raw, projection.suppressed_ids)));
    }
    const contexts = values.contexts[row] || [];
    if (contexts.length) {
      view.append(el("h4", {}, "where it fires"));
      const list = el("ul", { class: "contexts" });
      contexts.forEach((c) => list.append(el("li", {}, el("span", {}, c.before), el("mark", {}, c.token), el("span", {}, c.after))));
      view.append(list);
    }
    const positional = values.positional[String(neuron)];
    if (positional) {
      view.append(el("h4", {}, "activation frequency by position"));
      view.append(curveSvg(positional.first_position, positional.curve));
    }
    body.dataset.browser = model + "/" + layer + "/" + neuron;
    // The neuron's own address, other settings of the page (as the scale) kept.
    const params = new URLSearchParams(location.hash.slice(1));
    params.set("m", model); params.set("l", layer); params.set("n", neuron);
    history.replaceState(null, "", "#" + params.toString());
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    show(form.model.value, Number(form.layer.value), Number(form.neuron.value)).catch((err) => fail(String(err)));
  });
  document.querySelectorAll("[data-neuron]").forEach((link) => link.addEventListener("click", (e) => {
    e.preventDefault();
    const [model, layer, neuron] = link.dataset.neuron.split("/");
    form.model.value = model; form.layer.value = layer; form.neuron.value = neuron;
    show(model, Number(layer), Number(neuron)).then(() => view.scrollIntoView()).catch((err) => fail(String(err)));
  }));
  // Figures fitted to their data offer the paper's full scale one click away, and back.
  document.querySelectorAll("button.scale-toggle").forEach((button) => button.addEventListener("click", () => {
    const figure = button.closest("figure");
    const full = figure.querySelector(".scale.full");
    const showFull = full.hidden;
    full.hidden = !showFull;
    figure.querySelector(".scale.fitted").hidden = showFull;
    button.textContent = showFull ? "fit to the data" : "paper's scale (0–1)";
  }));
  if (new URLSearchParams(location.hash.slice(1)).get("scale") === "full") {
    document.querySelectorAll("button.scale-toggle").forEach((button) => button.click());
  }
  // Search by token: the detectors whose triggers hold the text typed (a leading-space marker
  // and letter case are ignored), with their layers, linked to the browser.
  const search = document.getElementById("token-search");
  const results = document.getElementById("search-results");
  const plain = (t) => t.replaceAll("␣", " ").trim().toLowerCase();
  // A trigger matches a query when one of its tokens, or the whole n-gram, is the query; when no
  // trigger of any detector does, when it contains the query.
  const matches = (query, exact) => {
    const q = plain(query);
    const hit = (t) => exact ? plain(t) === q || plain(t).split(/\s+/).includes(q) : plain(t).includes(q);
    const out = [];
    for (const m of data.models) {
      for (const [layer, neuron, kind, triggers] of m.detector_index) {
        const hits = triggers.filter(hit);
        if (hits.length) out.push({ m, layer, neuron, kind, hits });
      }
    }
    return out;
  };
  const find = (query) => {
    results.replaceChildren();
    if (!plain(query)) return;
    let found = matches(query, true);
    if (!found.length) found = matches(query, false);
    for (const { m, layer, neuron, kind, hits } of found.slice(0, 100)) {
      const link = el("a", { href: "#browser", "data-neuron": m.slug + "/" + layer + "/" + neuron }, m.name + " L" + layer + " N" + neuron);
      link.addEventListener("click", (e) => {
        e.preventDefault();
        form.model.value = m.slug; form.layer.value = layer; form.neuron.value = neuron;
        show(m.slug, layer, neuron).then(() => view.scrollIntoView()).catch((err) => fail(String(err)));
      });
      results.append(el("li", {}, link, " " + kind + " detector of ", ...hits.map((t) => el("code", {}, t))));
    }
    const n = found.length;
    results.prepend(el("li", { class: "muted" }, n ? n + " detector" + (n > 1 ? "s" : "") + (n > 100 ? " (the first 100 shown)" : "") : "no detector of '" + query + "'"));
  };
  search.addEventListener("submit", (e) => { e.preventDefault(); find(search.q.value); });
  const address = new URLSearchParams(location.hash.slice(1));
  // The table's sort and filter by address too: `sort=frequency` ascending, `sort=-frequency`
  // descending, `filter=token`.
  const sortKey = (address.get("sort") || "").replace(/^-/, "");
  if (columns.some((c) => c[0] === sortKey)) {
    table.key = sortKey;
    table.descending = address.get("sort").startsWith("-");
  }
  if (filters[address.get("filter")]) table.filter = address.get("filter");
  if (address.get("q")) { search.q.value = address.get("q"); find(address.get("q")); }
  const first = data.models[0];
  const linked = data.models.find((m) => m.slug === address.get("m"));
  let shown = Promise.resolve();
  if (linked && address.get("l") !== null && address.get("n") !== null) {
    form.model.value = linked.slug; form.layer.value = address.get("l"); form.neuron.value = address.get("n");
    // A link to a neuron opens on it.
    shown = show(linked.slug, Number(address.get("l")), Number(address.get("n")))
      .then(() => document.getElementById("browser").scrollIntoView());
  } else if (first) {
    const start = first.start;
    shown = show(first.slug, start[0], start[1]);
  }
  // When the first neuron is shown: milliseconds since navigation, for load-time measurements.
  shown.then(() => { body.dataset.readyMs = String(Math.round(performance.now())); })
    .catch((err) => fail(String(err)));
  body.dataset.ready = "1";
})();
