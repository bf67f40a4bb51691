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
  // The browser's data scripts, each loaded once, on demand: a layer's table, a chunk of its
  // neurons' details, a model's token index and token parts.
  const loaded = {};
  window.censusLayer = (model, layer, values) => { loaded["layer/" + model + "/" + layer] = values; };
  // A curve's values from its levels: 255ths of its top, a byte each in base64.
  const withValues = (curve) => {
    if (curve) curve.values = Array.from(atob(curve.levels), (c) => c.charCodeAt(0) * curve.top / 255);
  };
  window.censusChunk = (model, layer, chunk, values) => {
    values.forEach((detail) => {
      withValues(detail.curve);
      (detail.history || []).forEach((state) => withValues(state.curve));
    });
    loaded["chunk/" + model + "/" + layer + "/" + chunk] = values;
  };
  // The spellings of the tokens the projections name, by id: [shown, raw].
  window.censusVocab = (model, values) => {
    loaded["vocab/" + model] = new Map(values.ids.map((id, i) => [id, [values.shown[i], values.raw[i]]]));
  };
  window.censusTokenIndex = (model, values) => { loaded["tokens/" + model] = values; };
  window.censusTokenPart = (model, part, values) => { loaded["tokens/" + model + "/" + part] = values; };
  const loadScript = (key, src) => new Promise((resolve, reject) => {
    if (loaded[key]) { resolve(loaded[key]); return; }
    const script = document.createElement("script");
    script.src = src;
    script.onload = () => loaded[key] ? resolve(loaded[key]) : reject(new Error("no data in " + script.src));
    script.onerror = () => reject(new Error("cannot load " + script.src));
    document.head.appendChild(script);
  });
  const pad = (x, n) => String(x).padStart(n, "0");
  const load = (model, layer) => loadScript("layer/" + model + "/" + layer, "data/" + model + "/layer-" + pad(layer, 2) + ".js");
  const CHUNK = data.neuron_chunk, TOKEN_CHUNK = data.token_chunk;
  const loadChunk = (model, layer, neuron) => {
    const chunk = Math.floor(neuron / CHUNK);
    return loadScript("chunk/" + model + "/" + layer + "/" + chunk,
      "data/" + model + "/layer-" + pad(layer, 2) + "/neurons-" + pad(chunk, 3) + ".js")
      .then((values) => values[neuron - chunk * CHUNK])
      .then((detail) => detail.projection && !detail.projection.promoted
        ? loadScript("vocab/" + model, "data/" + model + "/vocab.js").then((vocab) => spell(detail.projection, vocab)).then(() => detail)
        : detail);
  };
  // A projection's tokens spelled: shown and raw beside the ids.
  const spell = (projection, vocab) => {
    for (const side of ["promoted", "suppressed"]) {
      const ids = projection[side + "_ids"];
      projection[side] = ids.map((id) => (vocab.get(id) || ["#" + id])[0]);
      projection[side + "_raw"] = ids.map((id) => (vocab.get(id) || ["", "#" + id])[1]);
    }
  };
  const loadTokenIndex = (model) => loadScript("tokens/" + model, "data/" + model + "/tokens/index.js");
  const loadTokenPart = (model, id) => {
    const part = Math.floor(id / TOKEN_CHUNK);
    return loadScript("tokens/" + model + "/" + part, "data/" + model + "/tokens/part-" + pad(part, 3) + ".js")
      .then((values) => values[String(id)] || []);
  };

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
  const svgNode = (w, h, cls, inner) => {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("class", cls);
    svg.innerHTML = inner;
    return svg;
  };
  // The top of a y axis fitted to values up to `max`: 1, 2 or 5 times a power of ten.
  const niceTop = (max) => {
    if (!(max > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(max)));
    return Math.min(1, [1, 2, 5, 10].map((m) => m * p).find((t) => t >= max * 0.9999));
  };
  // A frequency-by-position curve ({first, width, values}: values[i] over positions
  // first + i·width …), its y axis fitted to the data.
  const curveSvg = (curve) => {
    const w = 560, h = 150, values = curve.values, top = niceTop(Math.max(...values));
    const n = Math.max(values.length - 1, 1);
    const x = (i) => (i / n * (w - 60) + 44).toFixed(1), y = (v) => (h - 22 - v / top * (h - 34)).toFixed(1);
    const last = curve.first + values.length * curve.width - 1;
    return svgNode(w, h, "curve",
      '<line x1="44" y1="' + (h - 22) + '" x2="' + (w - 10) + '" y2="' + (h - 22) + '" stroke="#999"/>' +
      '<line x1="44" y1="10" x2="44" y2="' + (h - 22) + '" stroke="#999"/>' +
      '<text x="2" y="16" font-size="11">' + top + '</text><text x="2" y="' + (h - 22) + '" font-size="11">0</text>' +
      '<text x="44" y="' + (h - 6) + '" font-size="11">' + curve.first + '</text>' +
      '<text x="' + (w - 60) + '" y="' + (h - 6) + '" font-size="11">' + last + '</text>' +
      '<text x="' + (w / 2 - 20) + '" y="' + (h - 6) + '" font-size="11">position</text>' +
      '<polyline fill="none" stroke="#762a83" stroke-width="1.5" points="' +
      values.map((v, i) => x(i) + "," + y(v)).join(" ") + '"/>');
  };
  // A small curve for a table cell, on the 0–1 scale so checkpoints compare.
  const sparkSvg = (curve) => {
    const w = 120, h = 30, n = Math.max(curve.values.length - 1, 1);
    return svgNode(w, h, "spark",
      '<rect x="0" y="0" width="' + w + '" height="' + h + '" fill="#f7f7f7"/>' +
      '<polyline fill="none" stroke="#762a83" stroke-width="1" points="' +
      curve.values.map((v, i) => (i / n * (w - 4) + 2).toFixed(1) + "," + (h - 2 - v * (h - 4)).toFixed(1)).join(" ") + '"/>');
  };

  // What changed for a neuron between two checkpoints: the thresholds it crossed.
  const crossings = (before, after) => {
    const out = [];
    if (before.dead !== after.dead) out.push(after.dead ? "died" : "came alive");
    if (before.detector !== after.detector) {
      if (before.detector) out.push("stopped being a " + before.detector + " detector");
      if (after.detector) out.push("became a " + after.detector + " detector");
    }
    if (before.type !== after.type) {
      if (!before.type) out.push("became positional (" + after.type + ")");
      else if (!after.type) out.push("stopped being positional");
      else out.push("turned from " + before.type + " to " + after.type);
    }
    return out;
  };
  // A neuron along a training run: its frequency against step (log axis) with the checkpoints
  // where it crossed a threshold marked, and a row per checkpoint.
  const historyView = (history) => {
    const box = el("div", { class: "history" });
    const changes = history.map((h, i) => i ? crossings(history[i - 1], h) : []);
    const w = 560, h = 176, top = niceTop(Math.max(...history.map((s) => s.frequency)));
    const logs = history.map((s) => Math.log10(Math.max(s.step, 1)));
    const lo = Math.min(...logs), span = Math.max(Math.max(...logs) - lo, 1e-9);
    const x = (i) => (44 + (logs[i] - lo) / span * (w - 70)).toFixed(1), y = (v) => (h - 34 - v / top * (h - 50)).toFixed(1);
    let inner = '<line x1="44" y1="' + (h - 34) + '" x2="' + (w - 10) + '" y2="' + (h - 34) + '" stroke="#999"/>' +
      '<line x1="44" y1="12" x2="44" y2="' + (h - 34) + '" stroke="#999"/>' +
      '<text x="2" y="18" font-size="11">' + top + '</text><text x="2" y="' + (h - 34) + '" font-size="11">0</text>' +
      '<text x="' + (w / 2 - 70) + '" y="' + (h - 3) + '" font-size="11">training step (log scale)</text>' +
      '<polyline fill="none" stroke="#0072b2" stroke-width="1.5" points="' +
      history.map((s, i) => x(i) + "," + y(s.frequency)).join(" ") + '"/>';
    history.forEach((s, i) => {
      const crossed = changes[i].length > 0;
      inner += '<circle cx="' + x(i) + '" cy="' + y(s.frequency) + '" r="' + (crossed ? 5 : 3) + '" fill="' +
        (crossed ? "#d55e00" : "#0072b2") + '"><title>step ' + s.step + (crossed ? ": " + changes[i].join(", ") : "") + '</title></circle>' +
        '<text x="' + x(i) + '" y="' + (h - 20) + '" font-size="10" text-anchor="middle">' + s.step + '</text>';
    });
    box.append(svgNode(w, h, "curve", inner));
    const table = el("table", { class: "history-table" },
      el("tr", {}, ...["step", "frequency", "detector", "positional", "MI", "by position", "crossed"].map((t) => el("th", {}, t))));
    history.forEach((s, i) => {
      const detector = s.detector ? el("span", {}, s.detector + " ", tokenCodes(s.triggers)) : "–";
      const row = el("tr", changes[i].length ? { class: "crossed" } : {},
        el("td", {}, String(s.step)),
        el("td", {}, s.dead ? "dead" : fmt(s.frequency, 4)),
        el("td", {}, detector),
        el("td", {}, s.type ? s.type + (s.strong ? "" : " (weak)") : "–"),
        el("td", {}, fmt(s.mi, 3)),
        el("td", {}, s.curve ? sparkSvg(s.curve) : "–"),
        el("td", {}, changes[i].join("; ")));
      table.append(row);
    });
    box.append(table);
    box.dataset.crossings = String(changes.reduce((n, c) => n + c.length, 0));
    return box;
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
    const detail = await loadChunk(model, layer, neuron);
    if (detail.projection && !(detector && detector.promoted)) {
      const projection = detail.projection;
      view.append(el("h4", {}, "its update on the vocabulary"));
      view.append(el("p", {}, "promoted: ", tokenCodes(projection.promoted, projection.promoted_raw, projection.promoted_ids)));
      view.append(el("p", {}, "suppressed: ", tokenCodes(projection.suppressed, projection.suppressed_raw, projection.suppressed_ids)));
    }
    if (detail.contexts.length) {
      view.append(el("h4", {}, "where it fires"));
      const list = el("ul", { class: "contexts" });
      detail.contexts.forEach((c) => list.append(el("li", {}, el("span", {}, c.before), el("mark", {}, c.token), el("span", {}, c.after))));
      view.append(list);
    }
    if (detail.curve) {
      view.append(el("h4", {}, "activation frequency by position" + (detail.curve.width > 1 ? " (bins of " + detail.curve.width + " positions)" : "")));
      view.append(curveSvg(detail.curve));
    }
    if (detail.history && detail.history.length > 1) {
      view.append(el("h4", {}, "along training"));
      view.append(historyView(detail.history));
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
  const openLink = (m, layer, neuron, label) => {
    const link = el("a", { href: "#browser", "data-neuron": m.slug + "/" + layer + "/" + neuron }, label);
    link.addEventListener("click", (e) => {
      e.preventDefault();
      form.model.value = m.slug; form.layer.value = layer; form.neuron.value = neuron;
      show(m.slug, layer, neuron).then(() => view.scrollIntoView()).catch((err) => fail(String(err)));
    });
    return link;
  };
  // A token's neurons (`[layer, neuron, fires, neuron_fires]`, most fires first) in a table
  // sortable by how often they fire on it or by the share of their fires it takes.
  const tokenNeuronTable = (m, occurrences, rows) => {
    const table = el("table", { class: "neurons token-neurons" });
    const keys = { often: (r) => r[2], share: (r) => r[2] / r[3] };
    const render = (key) => {
      const sorted = rows.slice().sort((a, b) => keys[key](b) - keys[key](a) || b[2] - a[2] || a[0] - b[0] || a[1] - b[1]);
      const head = el("tr", {}, el("th", {}, "neuron"), el("th", {}, "fires on it"));
      for (const [k, label] of [["often", "of its occurrences"], ["share", "share of the neuron's fires"]]) {
        const th = el("th", { class: "sortable", "data-key": k }, label + (k === key ? " ▾" : ""));
        th.addEventListener("click", () => render(k));
        head.append(th);
      }
      table.replaceChildren(head, ...sorted.map(([layer, neuron, fires, all]) => el("tr", {},
        el("td", {}, openLink(m, layer, neuron, "L" + layer + " N" + neuron)),
        el("td", {}, fmt(fires, 0)),
        el("td", {}, fmt(100 * fires / occurrences, 1) + "%"),
        el("td", {}, fmt(100 * fires / all, 1) + "%"))));
    };
    render("often");
    return table;
  };
  // The tokens whose text is the query (a leading space and letter case ignored), with the
  // neurons that fire on each most often and those most devoted to it.
  const tokenMatches = async (query) => {
    const q = plain(query), out = [];
    for (const m of data.models.filter((m) => m.tokens)) {
      const index = await loadTokenIndex(m.slug);
      for (const [id, shown, raw, occurrences] of index.filter((t) => plain(t[1]) === q).slice(0, 8)) {
        out.push({ m, id, shown, raw, occurrences, rows: await loadTokenPart(m.slug, id) });
      }
    }
    return out;
  };
  const find = async (query) => {
    results.replaceChildren();
    delete results.dataset.searched;
    if (!plain(query)) return;
    let found = matches(query, true);
    if (!found.length) found = matches(query, false);
    for (const { m, layer, neuron, kind, hits } of found.slice(0, 100)) {
      results.append(el("li", {}, openLink(m, layer, neuron, m.name + " L" + layer + " N" + neuron), " " + kind + " detector of ", ...hits.map((t) => el("code", {}, t))));
    }
    const n = found.length;
    results.prepend(el("li", { class: "muted" }, n ? n + " detector" + (n > 1 ? "s" : "") + (n > 100 ? " (the first 100 shown)" : "") : "no detector of '" + query + "'"));
    for (const t of await tokenMatches(query)) {
      results.append(el("li", { class: "token-block", "data-token-id": String(t.id), "data-rows": String(t.rows.length) },
        t.m.name + ": the neurons that fire on ", el("code", { title: tokenTitle(t.raw, t.id) }, t.shown),
        " (" + fmt(t.occurrences, 0) + " occurrences) most often, and those giving it the largest share of their fires",
        tokenNeuronTable(t.m, t.occurrences, t.rows)));
    }
    results.dataset.searched = "1";
  };
  search.addEventListener("submit", (e) => { e.preventDefault(); find(search.q.value).catch((err) => fail(String(err))); });
  const address = new URLSearchParams(location.hash.slice(1));
  // The table's sort and filter by address too: `sort=frequency` ascending, `sort=-frequency`
  // descending, `filter=token`.
  const sortKey = (address.get("sort") || "").replace(/^-/, "");
  if (columns.some((c) => c[0] === sortKey)) {
    table.key = sortKey;
    table.descending = address.get("sort").startsWith("-");
  }
  if (filters[address.get("filter")]) table.filter = address.get("filter");
  if (address.get("q")) { search.q.value = address.get("q"); find(address.get("q")).catch((err) => fail(String(err))); }
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
