/* biostress web tool: single-page app on the biostress web API (docs/web.md, "Using the web tool").
 * Plain modern JavaScript, no build step. Map: MapLibre GL JS (vendor/), fed only by this server:
 * the run's land cover as base map, one thematic raster layer, and the area units as vector tiles. */
(() => {
  "use strict";

  const I18N = window.BIOSTRESS_I18N;
  const LANGS = ["nl", "en"];
  const LEVEL_ORDER = ["gemeente", "wijk", "buurt"];
  const GROUP_ORDER = ["current", "pressures", "stress", "potential", "opportunities", "measures", "guide_species", "base"];
  const LEVEL_BREAKS = [11.8, 13.4];  // gemeente below, wijk between, buurt above (web-mercator zoom)
  const REDUCED_MOTION = window.matchMedia?.("(prefers-reduced-motion: reduce)").matches ?? false;
  const anim = (ms) => (REDUCED_MOTION ? 0 : ms);
  const TEXT_MAX = 2000;          // characters in a participation text (the server's limit, participation.MAX_TEXT)
  const UNIT_LINE = { gemeente: [2.6, "#1b1f1c"], wijk: [1.6, "#2b3330"], buurt: [0.9, "#3a4440"] };
  // streets and managed objects of the report's aggregates.gpkg (/api/info objects; docs/web.md "Streets")
  const STREET_BREAK = 15.5;       // the street level from this zoom on (after buurt), when the server has streets
  const STREETS = "street_segments";
  const MANAGED = ["parks", "woods", "verges"];  // drawn with "Managed objects" in the map layers tab
  const OBJECT_ORDER = ["parks", "woods", STREETS, "verges"];  // bottom to top on the map
  const OBJECT_LIST = [STREETS, "verges", "parks", "woods"];    // order in the legend, popup and plot card
  // outlines: colour, width, dash (the legend draws the same); all >= 3:1 against the white/grey map
  const OBJECT_LINE = {
    street_segments: ["#3a4440", 0.8, null], verges: ["#8a4b00", 1.2, [2, 1.5]],
    parks: ["#17602f", 2, null], woods: ["#0b3d1f", 2, [3, 1.5]],
  };

  const state = {
    lang: "nl", info: null, layers: [], layerById: new Map(), measures: [], measureById: new Map(),
    active: null, cb: false, opacity: 0.8, view: "cells", map: null, mapReady: false,
    levelBreaks: [12, 14], unitColumn: null, unitBreaksKey: "", plotAt: null, plotLabel: null,
    plotMarker: null, popup: null, drawing: false, vertices: [], scenario: null, scenarioLayer: null,
    explainTarget: null, downloads: null, hovered: null, searchItems: [], searchActive: -1, searchSeq: 0,
    // editors (docs/web.md, "For editors"): the login, uploads, moderation, public proposals, saved plans
    auth: null, uploads: null, rejectedUploads: [], proposalsAll: null, modFilter: "all", proposalsPublic: [],
    proposalsShown: true, plans: null, proposalPopup: null,
    // streets and managed objects: shown or not, the objects under the last click (for the plot card)
    objectsShown: false, objectsHere: [], objectsAt: null,
  };

  // ---------------------------------------------------------------- helpers
  const $ = (id) => document.getElementById(id);

  function t(key, params) {
    const table = I18N[state.lang] || I18N.nl;
    let s = table[key] ?? I18N.nl[key] ?? key;
    if (params) for (const [k, v] of Object.entries(params)) s = s.split(`{${k}}`).join(String(v));
    return s;
  }

  /** Build an element: el("p", {class: "x", text: "..."}, child, ...). */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
      else if (k === "style" && typeof v === "object") Object.assign(e.style, v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function announce(msg) {
    const a = $("announcer");
    a.textContent = "";
    window.setTimeout(() => { a.textContent = msg; }, 30);
  }

  let toastTimer = null;
  function toast(msg) {
    const box = $("toast");
    box.textContent = msg;
    box.hidden = false;
    window.clearTimeout(toastTimer);
    toastTimer = window.setTimeout(() => { box.hidden = true; }, 7000);
  }

  class ApiError extends Error {
    constructor(message, status) { super(message); this.status = status; }
  }

  /** The message of an error answer: the API's {error, hint}, FastAPI's {detail} or the status line. */
  function errorText(data, status, statusText) {
    let msg = `${status} ${statusText || ""}`.trim();
    if (data && typeof data === "object") {
      const d = data.detail ?? data.message ?? data.error;
      if (typeof d === "string") msg = d;
      else if (Array.isArray(d)) msg = d.map((x) => x.msg || JSON.stringify(x)).join("; ");
      if (data.hint) msg += ` ${data.hint}`;
    } else if (typeof data === "string" && data.trim() && data.length < 300) msg = data.trim();
    return msg;
  }

  /** fetch JSON from the API; errors carry the server's message (FastAPI 'detail').
   * `auth: true` sends the editor's token; a 401 answer to such a call ends the login. */
  async function api(path, options = {}) {
    const { auth, ...rest } = options;
    const opts = { ...rest, headers: { Accept: "application/json", ...(rest.headers || {}) } };
    if (auth) {
      if (!state.auth) throw new ApiError(t("auth.expired"), 401);
      opts.headers.Authorization = `Bearer ${state.auth.token}`;
    }
    if (opts.body && typeof opts.body !== "string") {
      opts.body = JSON.stringify(opts.body);
      opts.headers["Content-Type"] = "application/json";
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new ApiError(t("error.network"), 0);
    }
    if (res.status === 204) return null;
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (!res.ok) {
      if (auth && res.status === 401) sessionExpired();
      throw new ApiError(errorText(data, res.status, res.statusText), res.status);
    }
    return data;
  }

  function withLang(path) {
    return `${path}${path.includes("?") ? "&" : "?"}lang=${state.lang}`;
  }

  const locale = () => (state.lang === "nl" ? "nl-NL" : "en-GB");

  function fmtNum(v, digits) {
    if (v === null || v === undefined || v === "" || Number.isNaN(Number(v))) return "–";
    const n = Number(v);
    const a = Math.abs(n);
    const d = digits ?? (a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : a === 0 ? 0 : 3);
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: d, minimumFractionDigits: 0 }).format(n);
  }

  function fmtEur(v) {
    if (v === null || v === undefined || Number.isNaN(Number(v))) return "–";
    return new Intl.NumberFormat(locale(), { style: "currency", currency: "EUR", maximumFractionDigits: 0 }).format(Number(v));
  }

  function fmtBytes(b) {
    if (!b && b !== 0) return "";
    const u = ["B", "kB", "MB", "GB"];
    let i = 0;
    let n = Number(b);
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i += 1; }
    return `${fmtNum(n, i === 0 ? 0 : 1)} ${u[i]}`;
  }

  const isShare = (unit) => /share|fraction|aandeel|fractie|proportion/i.test(unit || "");

  /** A value with its unit, shares as per cent. */
  /** The unit worth printing after a number ("" for indices and classes; shares are printed as %). */
  /** m2 and m3 in a unit written as m² and m³. */
  const niceUnit = (unit) => (unit || "").replace(/\bm([23])\b/g, (_, p) => (p === "2" ? "m²" : "m³"));

  function unitLabel(unit) {
    const u = niceUnit(unit).replace(/\s+\(.*\)\s*$/, "").trim();
    if (!u || isShare(u) || /^(index|class|klasse|category|categorie|score)|^(count|aantal)$/i.test(u) || /^[0-9.,\s–-]+$/.test(u)) return "";
    return u;
  }

  function fmtValue(v, unit, { bare = false } = {}) {
    if (v === null || v === undefined || Number.isNaN(Number(v))) return t("plot.nodata");
    if (typeof v === "string") return v;
    if (isShare(unit)) return `${fmtNum(100 * v, Math.abs(v) < 0.1 && v !== 0 ? 1 : 0)}%`;
    const u = unitLabel(unit);
    return u && !bare ? `${fmtNum(v)} ${u}` : fmtNum(v);
  }

  function normAttribution(a) {
    if (!a) return [];
    const list = Array.isArray(a) ? a : [a];
    return list.map((x) => (typeof x === "string" ? x : x.attribution || x.name || "")).filter(Boolean);
  }

  // ---------------------------------------------------------------- static texts and language
  function initialLang() {
    const q = new URLSearchParams(window.location.search).get("lang");
    if (LANGS.includes(q)) return q;
    try {
      const s = window.localStorage.getItem("biostress.lang");
      if (LANGS.includes(s)) return s;
    } catch (e) { /* storage blocked */ }
    return "nl";
  }

  function applyStatic() {
    document.documentElement.lang = state.lang;
    document.title = state.info ? `${t("app.title")} · ${state.info.name}` : t("app.title");
    for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
    for (const e of document.querySelectorAll("[data-i18n-placeholder]")) e.placeholder = t(e.dataset.i18nPlaceholder);
    for (const e of document.querySelectorAll("[data-i18n-aria-label]")) e.setAttribute("aria-label", t(e.dataset.i18nAriaLabel));
    for (const e of document.querySelectorAll("[data-i18n-title]")) e.title = t(e.dataset.i18nTitle);
    $("btn-lang").lang = state.lang === "nl" ? "en" : "nl";
    const legendCollapsed = $("legend").classList.contains("collapsed");
    $("btn-legend-toggle").setAttribute("aria-label", t(legendCollapsed ? "legend.show" : "legend.hide"));
    const zin = document.querySelector(".maplibregl-ctrl-zoom-in");
    const zout = document.querySelector(".maplibregl-ctrl-zoom-out");
    const names = state.lang === "nl" ? ["Inzoomen", "Uitzoomen"] : ["Zoom in", "Zoom out"];
    if (zin) { zin.title = names[0]; zin.setAttribute("aria-label", names[0]); }
    if (zout) { zout.title = names[1]; zout.setAttribute("aria-label", names[1]); }
  }

  async function switchLang() {
    state.lang = state.lang === "nl" ? "en" : "nl";
    try { window.localStorage.setItem("biostress.lang", state.lang); } catch (e) { /* ignore */ }
    const url = new URL(window.location.href);
    url.searchParams.set("lang", state.lang);
    window.history.replaceState(null, "", url);
    applyStatic();
    updateDrawCount();
    await loadLangData();
    announce(state.lang === "nl" ? "Taal: Nederlands" : "Language: English");
  }

  /** Everything that depends on the language: layers, measures, downloads and the open cards. */
  async function loadLangData() {
    const [layers, measures] = await Promise.all([
      api(withLang("/api/layers")).catch((e) => { toast(t("error.generic", { msg: e.message })); return []; }),
      api(withLang("/api/measures")).catch(() => []),
    ]);
    state.layers = Array.isArray(layers) ? layers : [];
    state.layerById = new Map(state.layers.map((l) => [l.id, l]));
    state.measures = (Array.isArray(measures) ? measures : []).slice()
      .sort((a, b) => measureName(a).localeCompare(measureName(b), locale()));
    state.measureById = new Map(state.measures.map((m) => [m.id, m]));
    renderLayerList();
    const wanted = state.active?.id || new URLSearchParams(window.location.search).get("layer");
    const first = state.layerById.get(wanted) || state.layerById.get("stress_class")
      || state.layerById.get("green_share") || state.layers.find((l) => l.group !== "base") || state.layers[0];
    if (first) setActiveLayer(first.id, { quiet: true });
    renderMeasureSelect();
    renderMeasureList();
    renderExplain();
    if (state.downloads !== null) loadDownloads();
    if (state.plotAt) loadPlot(state.plotAt, { label: state.plotLabel, quiet: true, keepTab: true });
    if (state.scenario) renderScenarioResult();
    renderAuth();
    renderPublicProposals();
    renderPlans();
    if (state.auth) { renderUploads(); renderModeration(); }
  }

  const measureName = (m) => m?.name || (state.lang === "nl" ? m?.name_nl : m?.name_en) || m?.id || "";
  const measureExplain = (m) => m?.explain || (state.lang === "nl" ? m?.explain_nl : m?.explain_en) || "";

  // ---------------------------------------------------------------- tabs
  const TABS = ["layers", "plot", "scenario", "downloads", "explain", "editor"];
  const shownTabs = () => TABS.filter((n) => !$(`tab-${n}`).hidden);

  function selectTab(name, { focus = false } = {}) {
    if ($(`tab-${name}`).hidden) name = "layers";
    for (const n of TABS) {
      const tab = $(`tab-${n}`);
      const on = n === name;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      $(`panel-${n}`).hidden = !on;
    }
    if (focus) $(`tab-${name}`).focus();
    if (name === "downloads" && state.downloads === null) loadDownloads();
    if (name === "scenario" && state.plans === null) loadPlans();
    if (name === "editor" && state.auth) refreshEditor();
  }

  function setupTabs() {
    const list = document.querySelector("[role=tablist]");
    for (const n of TABS) $(`tab-${n}`).addEventListener("click", () => selectTab(n));
    list.addEventListener("keydown", (e) => {
      const tabs = shownTabs();
      const i = tabs.findIndex((n) => $(`tab-${n}`) === document.activeElement);
      if (i < 0) return;
      let j = null;
      if (e.key === "ArrowRight") j = (i + 1) % tabs.length;
      else if (e.key === "ArrowLeft") j = (i - 1 + tabs.length) % tabs.length;
      else if (e.key === "Home") j = 0;
      else if (e.key === "End") j = tabs.length - 1;
      if (j !== null) { e.preventDefault(); selectTab(tabs[j], { focus: true }); }
    });
  }

  // ---------------------------------------------------------------- layer list and legend
  function legendOf(layer) {
    if (!layer) return [];
    return (state.cb && Array.isArray(layer.legend_cb) && layer.legend_cb.length) ? layer.legend_cb : (layer.legend || []);
  }

  /** Layers shown in the list: unit outlines and the boundary are always drawn, so they are not themes. */
  const listed = (l) => !/^units_/.test(l.id) && l.id !== "boundary" && !l.level && !l.object;
  const PER_MEASURE = /^opportunity_(?!gain$|best_measure$|count$)/;

  function layerRow(l) {
    const rid = `layer-${l.id}`;
    const strip = el("span", { class: "swatch-strip", "aria-hidden": "true" },
      ...(l.legend || []).slice(0, 7).map((it) => el("span", { style: { background: it.colour } })));
    return el("div", { class: "layer-item", "data-layer": l.id },
      el("label", { for: rid },
        el("input", { type: "radio", name: "layer", id: rid, value: l.id, checked: state.active?.id === l.id }),
        strip, el("span", { text: l.title || l.id })),
      el("button", {
        type: "button", class: "btn-icon", "aria-label": t("layers.info", { title: l.title || l.id }),
        title: t("layers.info", { title: l.title || l.id }), text: "i",
        onclick: () => showExplain({ type: "layer", id: l.id }),
      }));
  }

  function renderLayerList() {
    const box = $("layer-groups");
    const openNow = new Set([...box.querySelectorAll("details[open]")].map((d) => d.dataset.group));
    const first = !box.childElementCount;
    box.replaceChildren();
    const groups = new Map();
    for (const l of state.layers.filter(listed)) {
      const g = l.group || "current";
      if (!groups.has(g)) groups.set(g, { title: l.group_title, items: [] });
      groups.get(g).items.push(l);
    }
    const order = [...GROUP_ORDER, ...[...groups.keys()].filter((g) => !GROUP_ORDER.includes(g))];
    for (const g of order) {
      const grp = groups.get(g);
      if (!grp) continue;
      const title = grp.title || (t(`group.${g}`) !== `group.${g}` ? t(`group.${g}`) : g);
      const hasActive = grp.items.some((l) => l.id === state.active?.id);
      const open = first ? (hasActive || g === "current" || g === "stress") : (openNow.has(g) || hasActive);
      const det = el("details", { class: "layer-group", "data-group": g, open },
        el("summary", {}, el("span", { text: title }), el("span", { class: "count", text: String(grp.items.length) })));
      const main = grp.items.filter((l) => !PER_MEASURE.test(l.id));
      const per = grp.items.filter((l) => PER_MEASURE.test(l.id));
      const fs = el("div", { role: "group", "aria-label": title }, ...main.map(layerRow));
      if (per.length) {
        const subOpen = per.some((l) => l.id === state.active?.id) || openNow.has(`${g}-per`);
        fs.append(el("details", { class: "layer-sub", "data-group": `${g}-per`, open: subOpen },
          el("summary", { text: t("layers.permeasure", { n: per.length }) }), ...per.map(layerRow)));
      }
      det.append(fs);
      box.append(det);
    }
  }

  function renderLegend() {
    const l = state.active;
    $("legend-title").textContent = l ? (l.title || l.id) : "";
    const showUnit = l?.unit && !/^(class|category|klasse|categorie|groep|group|-)/i.test(l.unit.trim());
    $("legend-unit").textContent = showUnit ? `${t("explain.unit")}: ${niceUnit(l.unit)}` : "";
    const ul = $("legend-items");
    ul.replaceChildren();
    let items = legendOf(l).map((it) => ({ colour: it.colour, label: it.label }));
    let note = "";
    if (state.view === "units" && state.unitLegend) {
      items = state.unitLegend;
      note = state.unitLegendNote || "";
    }
    for (const it of items) {
      ul.append(el("li", {}, el("span", { class: "sw", style: { background: it.colour }, "aria-hidden": "true" }),
        el("span", { text: it.label })));
    }
    $("legend-note").textContent = note;
    $("legend-note").hidden = !note;
    $("legend-level").textContent = state.mapReady ? t("legend.level", { level: t(`level.${currentLevel()}`) }) : "";
    renderObjectLegend();
  }

  /** The outlines of the streets and managed objects on the map, named (legend, under the level). */
  function renderObjectLegend() {
    const box = $("legend-objects");
    const street = state.mapReady && currentLevel() === "street" && state.view === "units";
    const names = OBJECT_LIST.filter((n) => objectInfo(n) && (n === STREETS ? street : state.objectsShown));
    box.hidden = !names.length;
    $("legend-objects-items").replaceChildren(...names.map((n) => {
      const [c, w, dash] = OBJECT_LINE[n];
      return el("li", { "data-object": n },
        el("span", { class: "ln", "aria-hidden": "true",
          style: { borderTop: `${Math.max(2, Math.round(w + 1))}px ${dash ? "dashed" : "solid"} ${c}` } }),
        el("span", { text: state.layerById.get(n)?.title || n }));
    }));
  }

  function tilesUrl(template) {
    let url = template;
    if (state.cb) url += (url.includes("?") ? "&" : "?") + "cb=1";
    return new URL(url, window.location.href).href.replace(/%7B/g, "{").replace(/%7D/g, "}");
  }

  function setActiveLayer(id, { quiet = false } = {}) {
    const layer = state.layerById.get(id);
    if (!layer) return;
    state.active = layer;
    for (const row of document.querySelectorAll(".layer-item")) {
      const on = row.dataset.layer === id;
      row.classList.toggle("active", on);
      const r = row.querySelector("input");
      if (r) r.checked = on;
    }
    const url = new URL(window.location.href);
    url.searchParams.set("layer", id);
    window.history.replaceState(null, "", url);
    updateThemeLayer();
    updateUnitStyle(true);
    renderLegend();
    if (state.explainTarget?.type === "layer" && !$("panel-explain").hidden) { /* keep explanation shown */ }
    if (!quiet) announce(`${t("tab.layers")}: ${layer.title || layer.id}`);
  }

  function setupLayerControls() {
    $("layer-groups").addEventListener("change", (e) => {
      if (e.target.name === "layer") setActiveLayer(e.target.value);
    });
    $("opacity").addEventListener("input", (e) => {
      state.opacity = Number(e.target.value) / 100;
      $("opacity-out").textContent = `${e.target.value}%`;
      applyOpacity();
    });
    for (const r of document.querySelectorAll("input[name=view]")) {
      r.addEventListener("change", (e) => {
        state.view = e.target.value;
        updateThemeLayer();
        updateUnitStyle(true);
        renderLegend();
      });
    }
    $("cb-toggle").addEventListener("change", (e) => {
      state.cb = e.target.checked;
      try { window.localStorage.setItem("biostress.cb", state.cb ? "1" : "0"); } catch (err) { /* ignore */ }
      renderLayerList();
      updateThemeLayer(true);
      updateUnitStyle(true);
      renderLegend();
      if (state.scenario) updateScenarioLayer();
    });
    $("btn-legend-toggle").addEventListener("click", () => foldLegend(!$("legend").classList.contains("collapsed")));
    $("objects-toggle").addEventListener("change", (e) => {
      setObjectsShown(e.target.checked);
      announce(t(e.target.checked ? "objects.shown" : "objects.hidden"));
    });
    $("objects-info").addEventListener("click", () => showExplain({ type: "objects" }));
    if (window.innerWidth < 640) foldLegend(true);  // small screens: the legend would hide the map
  }

  function foldLegend(collapsed) {
    $("legend").classList.toggle("collapsed", collapsed);
    const b = $("btn-legend-toggle");
    b.setAttribute("aria-expanded", String(!collapsed));
    b.setAttribute("aria-label", t(collapsed ? "legend.show" : "legend.hide"));
    b.textContent = collapsed ? "+" : "–";
  }

  // ---------------------------------------------------------------- map
  function webglAvailable() {
    try {
      const c = document.createElement("canvas");
      return Boolean(c.getContext("webgl2") || c.getContext("webgl"));
    } catch (e) { return false; }
  }

  function mapMessage(msg) {
    const m = $("map-message");
    m.textContent = msg || "";
    m.hidden = !msg;
  }

  function currentLevel() {
    const levels = (state.info?.levels || LEVEL_ORDER).filter((l) => LEVEL_ORDER.includes(l));
    if (!state.map) return levels[0] || "gemeente";
    const z = state.map.getZoom();
    if (z >= STREET_BREAK && objectInfo(STREETS)) return "street";  // the fourth level: street segments
    const idx = z < state.levelBreaks[0] ? 0 : z < state.levelBreaks[1] ? 1 : 2;
    const want = LEVEL_ORDER[idx];
    if (levels.includes(want)) return want;
    return levels[levels.length - 1] || "gemeente";
  }

  function levelZoomRange(level) {
    const [b0, b1] = state.levelBreaks;
    const top = objectInfo(STREETS) ? STREET_BREAK : 24;
    return { gemeente: [0, b0], wijk: [b0, b1], buurt: [b1, top], street: [STREET_BREAK, 24] }[level];
  }

  // ---------------------------------------------------------------- streets and managed objects
  /** The object layer `name` of /api/info (`{name, title, count, columns, min_zoom, tiles}`), or null. */
  const objectInfo = (name) => (state.info?.objects || []).find((o) => o.name === name) || null;
  /** Zoom from which an object layer is drawn (streets and verges with the street level, parks and woods from 14). */
  const objectMinZoom = (name) => Math.max(objectInfo(name)?.min_zoom ?? 0,
    name === STREETS || name === "verges" ? STREET_BREAK : 14);
  const objectShown = (name) => name === STREETS || state.objectsShown;

  /** The column of object layer `name` holding the mean of the active layer (`<id>_mean`), or null. */
  function objectColumn(layer, name) {
    const o = objectInfo(name);
    const col = layer ? `${layer.id}_mean` : null;
    return o && col && (o.columns || []).includes(col) ? col : null;
  }

  /** A step expression colouring `col` in the layer's equal steps from range[0] to range[1] (as the raster
   * tiles; values outside take the end colours, missing values stay transparent), or null for a class map. */
  function rampExpr(layer, col) {
    const items = legendOf(layer);
    const range = Array.isArray(layer?.range) && layer.range.length === 2 ? layer.range.map(Number) : null;
    if (!range || items.length < 2 || !(range[1] > range[0])) return null;
    const n = items.length;
    const step = (range[1] - range[0]) / n;
    const expr = ["step", ["to-number", ["get", col], -1e30], "rgba(0,0,0,0)", -1e29, items[0].colour];
    for (let i = 1; i < n; i += 1) expr.push(range[0] + i * step, items[i].colour);
    return expr;
  }

  /** The colour of one value in the same steps (null when it has none). */
  function rampColour(layer, v) {
    const items = legendOf(layer);
    const range = Array.isArray(layer?.range) && layer.range.length === 2 ? layer.range.map(Number) : null;
    if (!range || items.length < 2 || !(range[1] > range[0]) || !Number.isFinite(Number(v))) return null;
    const k = Math.floor(((Number(v) - range[0]) / (range[1] - range[0])) * items.length);
    return items[Math.min(items.length - 1, Math.max(0, k))].colour;
  }

  /** The objects under a screen point, one per kind (street segment, verge, park, wood), topmost first. */
  function objectsAt(point) {
    const map = state.map;
    const layers = OBJECT_ORDER.filter((n) => objectInfo(n) && objectShown(n) && map.getLayer(`obj-fill-${n}`))
      .map((n) => `obj-fill-${n}`);
    if (!layers.length) return [];
    const seen = new Map();
    for (const f of map.queryRenderedFeatures(point, { layers })) {
      const name = f.sourceLayer;
      if (!seen.has(name)) seen.set(name, { name, props: f.properties || {} });
    }
    return OBJECT_LIST.filter((n) => seen.has(n)).map((n) => seen.get(n));
  }

  function roadClass(c) {
    if (!c) return "";
    const k = `roadclass.${c}`;
    return t(k) !== k ? t(k) : String(c).replace(/_/g, " ");
  }

  /** "Street segment 12" and "residential street · 140 m" of an object. */
  function objectTitle(o) {
    const meta = state.layerById.get(o.name);
    return `${meta?.item || o.name} ${o.props.id ?? ""}`.trim();
  }

  function objectSubtitle(o) {
    const p = o.props;
    const bits = [];
    if (p.class) bits.push(roadClass(p.class));
    if (Number.isFinite(Number(p.length_m))) bits.push(`${fmtNum(Number(p.length_m), 0)} m`);
    const a = Number(p.area_m2);
    if (Number.isFinite(a)) bits.push(a >= 10000 ? `${fmtNum(a / 10000, 2)} ha` : `${fmtNum(a, 0)} m²`);
    return bits.join(" · ");
  }

  /** Every `*_mean` of an object as value rows (title and unit of the map layer, its colour in the layer's steps). */
  function objectRows(o) {
    const cols = objectInfo(o.name)?.columns || Object.keys(o.props).filter((k) => /_mean$/.test(k));
    const rows = cols.map((col) => {
      const id = col.replace(/_mean$/, "");
      const layer = state.layerById.get(id);
      const v = o.props[col];
      const has = v !== undefined && v !== null && Number.isFinite(Number(v));
      const colour = has ? rampColour(layer, Number(v)) : null;
      return el("li", { "data-mean": id, "data-value": has ? String(v) : "" },
        el("span", { class: "sw", style: { background: colour || "transparent" }, "aria-hidden": "true" }),
        el("span", { text: layer?.title || id.replace(/_/g, " ") }),
        el("span", { class: "v", text: has ? fmtValue(Number(v), layer?.unit) : t("popup.novalue") }));
    });
    return el("ul", { class: "vals" }, ...rows);
  }

  /** The plot card's section on the street segment and managed objects that were clicked. */
  function objectsSection() {
    const here = state.objectsHere;
    const at = state.plotAt;
    if (!here?.list?.length || !at || here.key !== `${at.lng},${at.lat}`) return null;
    const box = section(t("objects.here"), el("p", { class: "small muted", text: t("objects.means.note") }));
    box.classList.add("objects-here");
    for (const o of here.list) {
      box.append(el("div", { class: "obj", "data-object": o.name, "data-id": String(o.props.id ?? "") },
        el("h4", { text: objectTitle(o) }), el("p", { class: "small muted", text: objectSubtitle(o) }), objectRows(o)));
    }
    return box;
  }

  function setObjectsShown(on) {
    state.objectsShown = Boolean(on);
    $("objects-toggle").checked = state.objectsShown;
    const map = state.map;
    if (map && state.mapReady) {
      for (const n of MANAGED) {
        for (const kind of ["fill", "line", "hover"]) {
          if (map.getLayer(`obj-${kind}-${n}`)) map.setLayoutProperty(`obj-${kind}-${n}`, "visibility", state.objectsShown ? "visible" : "none");
        }
      }
    }
    updateUnitStyle(true);
    renderLegend();
  }

  /** Room for the legend (top left) and the controls (right) when the map is fitted to the area. */
  function fitPadding() {
    const w = $("map").clientWidth;
    const legend = $("legend").offsetWidth || 250;
    if (w < 640) return 16;
    return { top: 24, bottom: 36, left: Math.min(legend + 24, w * 0.35), right: 56 };
  }

  function createMap() {
    const info = state.info;
    if (!window.maplibregl || !webglAvailable()) {
      mapMessage(t("map.nowebgl"));
      return;
    }
    const b = info.bounds_wgs84;
    const dx = (b[2] - b[0]) * 0.6;
    const dy = (b[3] - b[1]) * 0.6;
    let map;
    try {
      map = new maplibregl.Map({
        container: "map",
        style: { version: 8, sources: {}, layers: [{ id: "bg", type: "background", paint: { "background-color": "#e9ece8" } }] },
        bounds: b, fitBoundsOptions: { padding: fitPadding() },
        maxBounds: [[b[0] - dx, b[1] - dy], [b[2] + dx, b[3] + dy]],
        attributionControl: false, dragRotate: false, pitchWithRotate: false, touchPitch: false,
        maxZoom: 19, fadeDuration: 0,
      });
    } catch (e) {
      mapMessage(t("map.nowebgl"));
      return;
    }
    state.map = map;
    map.touchZoomRotate.disableRotation();
    map.keyboard.disableRotation();
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    map.addControl(new maplibregl.ScaleControl({ unit: "metric", maxWidth: 120 }), "bottom-right");
    const attr = normAttribution(info.attribution);
    const narrow = $("map").clientWidth < 640;
    map.addControl(new maplibregl.AttributionControl({ compact: narrow, customAttribution: [...attr, "MapLibre"] }), "bottom-right");
    mapMessage(t("map.loading"));
    map.on("load", onMapLoad);
    map.on("error", (e) => { if (e?.error?.status && e.error.status >= 500) console.warn("tile error", e.error); });
  }

  function onMapLoad() {
    const map = state.map;
    const info = state.info;
    // zoom at which districts and neighbourhoods take over: typical Dutch unit sizes (a wijk of a few km2
    // fills the screen from about z12, a buurt of well under 1 km2 from about z13.5)
    state.levelBreaks = LEVEL_BREAKS.slice();
    const bounds = info.bounds_wgs84;
    const lc = state.layerById.get("landcover");
    map.addSource("base", {
      type: "raster", tiles: [tilesUrl(lc?.tiles || "/tiles/landcover/{z}/{x}/{y}.png")], tileSize: 256,
      bounds, maxzoom: 16,
    });
    map.addLayer({
      id: "base", type: "raster", source: "base",
      paint: { "raster-saturation": -0.85, "raster-opacity": 0.45, "raster-resampling": "nearest" },
    });
    const levels = (info.levels || LEVEL_ORDER).filter((l) => LEVEL_ORDER.includes(l));
    for (const level of levels) {
      map.addSource(`units-${level}`, {
        type: "vector", tiles: [tilesUrl(`/tiles/units/${level}/{z}/{x}/{y}.pbf`)], bounds, maxzoom: 15,
        promoteId: { [level]: "code" },
      });
    }
    // the theme goes between the base map and the unit fills; added by updateThemeLayer()
    for (const level of levels) {
      const [minz, maxz] = levelZoomRange(level);
      map.addLayer({
        id: `units-fill-${level}`, type: "fill", source: `units-${level}`, "source-layer": level,
        minzoom: minz, maxzoom: maxz,
        paint: { "fill-color": "#000000", "fill-opacity": 0 },
      });
    }
    // streets and managed objects: fills above the unit fills, outlines under the unit outlines
    const objects = OBJECT_ORDER.filter((n) => objectInfo(n));
    for (const name of objects) {
      const o = objectInfo(name);
      map.addSource(`obj-${name}`, { type: "vector", tiles: [tilesUrl(o.tiles)], bounds, minzoom: o.min_zoom || 0, maxzoom: 16 });
    }
    for (const name of objects) {
      map.addLayer({
        id: `obj-fill-${name}`, type: "fill", source: `obj-${name}`, "source-layer": name, minzoom: objectMinZoom(name),
        layout: { visibility: objectShown(name) ? "visible" : "none" },
        paint: { "fill-color": "#000000", "fill-opacity": 0 },
      });
    }
    for (const name of objects) {
      const [c, w, dash] = OBJECT_LINE[name];
      map.addLayer({
        id: `obj-line-${name}`, type: "line", source: `obj-${name}`, "source-layer": name, minzoom: objectMinZoom(name),
        layout: { visibility: name === STREETS ? "none" : (objectShown(name) ? "visible" : "none") },
        paint: { "line-color": c, "line-width": w, ...(dash ? { "line-dasharray": dash } : {}) },
      });
    }
    for (const level of levels) {
      const [w, c] = UNIT_LINE[level];
      const minz = level === "gemeente" ? 0 : levelZoomRange(level)[0];
      map.addLayer({
        id: `units-casing-${level}`, type: "line", source: `units-${level}`, "source-layer": level, minzoom: minz,
        paint: { "line-color": "#ffffff", "line-width": w + 2, "line-opacity": 0.75 },
      });
      map.addLayer({
        id: `units-line-${level}`, type: "line", source: `units-${level}`, "source-layer": level, minzoom: minz,
        paint: { "line-color": c, "line-width": w },
      });
      map.addLayer({
        id: `units-hover-${level}`, type: "line", source: `units-${level}`, "source-layer": level,
        minzoom: levelZoomRange(level)[0], maxzoom: levelZoomRange(level)[1],
        paint: {
          "line-color": "#ffbf00",
          "line-width": ["case", ["boolean", ["feature-state", "hover"], false], w + 2.5, 0],
        },
      });
    }
    for (const name of objects) {
      map.addLayer({
        id: `obj-hover-${name}`, type: "line", source: `obj-${name}`, "source-layer": name, minzoom: objectMinZoom(name),
        layout: { visibility: objectShown(name) ? "visible" : "none" },
        paint: { "line-color": "#ffbf00", "line-width": ["case", ["boolean", ["feature-state", "hover"], false], 3, 0] },
      });
    }
    map.addSource("draw", { type: "geojson", data: emptyFC() });
    map.addLayer({ id: "draw-fill", type: "fill", source: "draw", filter: ["==", ["geometry-type"], "Polygon"],
      paint: { "fill-color": "#ffbf00", "fill-opacity": 0.18 } });
    map.addLayer({ id: "draw-line-casing", type: "line", source: "draw", filter: ["!=", ["geometry-type"], "Point"],
      paint: { "line-color": "#ffffff", "line-width": 5 } });
    map.addLayer({ id: "draw-line", type: "line", source: "draw", filter: ["!=", ["geometry-type"], "Point"],
      paint: { "line-color": "#7a3e00", "line-width": 2.5, "line-dasharray": [2, 1] } });
    map.addLayer({ id: "draw-points", type: "circle", source: "draw", filter: ["==", ["geometry-type"], "Point"],
      paint: { "circle-radius": 5, "circle-color": "#ffbf00", "circle-stroke-color": "#1b1f1c", "circle-stroke-width": 2 } });
    addProposalsLayer();

    state.mapReady = true;
    mapMessage("");
    updateThemeLayer(true);
    updateUnitStyle(true);
    renderLegend();
    applyStatic();

    map.on("click", onMapClick);
    map.on("dblclick", onMapDblClick);
    map.on("mousemove", onMapHover);
    map.on("mouseout", () => setHover(null));
    map.on("zoomend", () => { renderLegend(); updateUnitStyle(false); });
    map.on("idle", () => updateUnitStyle(false));
    const canvas = map.getCanvas();
    canvas.setAttribute("aria-label", t("map.label"));
    canvas.addEventListener("keydown", onMapKey);
    $("map").addEventListener("focus", () => canvas.focus());
    document.body.dataset.mapReady = "1";
  }

  const emptyFC = () => ({ type: "FeatureCollection", features: [] });

  function updateThemeLayer(force = false) {
    const map = state.map;
    if (!map || !state.mapReady) return;
    const l = state.active;
    const isBase = !l || l.id === "landcover";
    map.setLayoutProperty("base", "visibility", isBase ? "none" : "visible");
    const url = l ? tilesUrl(l.tiles || `/tiles/${l.id}/{z}/{x}/{y}.png`) : null;
    const vector = url && /\.pbf(\?|$)/.test(url);
    const src = map.getSource("theme");
    if (src && (force || src._biostressUrl !== url)) {
      if (map.getLayer("theme")) map.removeLayer("theme");
      if (map.getLayer("theme-line")) map.removeLayer("theme-line");
      map.removeSource("theme");
    }
    const before = map.getLayer(`units-fill-${LEVEL_ORDER[0]}`) ? `units-fill-${LEVEL_ORDER[0]}` : undefined;
    if (l && !map.getSource("theme")) {
      if (vector) {
        map.addSource("theme", { type: "vector", tiles: [url], bounds: state.info.bounds_wgs84, maxzoom: 15 });
        const c = legendOf(l)[0]?.colour || "#1d6b3a";
        map.addLayer({ id: "theme", type: "fill", source: "theme", "source-layer": l.source_layer || l.id,
          paint: { "fill-color": c, "fill-opacity": state.opacity } }, before);
        map.addLayer({ id: "theme-line", type: "line", source: "theme", "source-layer": l.source_layer || l.id,
          paint: { "line-color": c, "line-width": 1.2 } }, before);
      } else {
        map.addSource("theme", { type: "raster", tiles: [url], tileSize: 256, bounds: state.info.bounds_wgs84, maxzoom: 16 });
        map.addLayer({ id: "theme", type: "raster", source: "theme",
          paint: { "raster-opacity": state.opacity, "raster-resampling": "nearest" } }, before);
      }
      map.getSource("theme")._biostressUrl = url;
    }
    if (map.getLayer("theme")) {
      const showCells = state.view === "cells" || !unitColumnAvailable();
      map.setLayoutProperty("theme", "visibility", showCells ? "visible" : "none");
    }
    applyOpacity();
  }

  function applyOpacity() {
    const map = state.map;
    if (!map || !state.mapReady) return;
    if (map.getLayer("theme")) {
      const type = map.getLayer("theme").type;
      map.setPaintProperty("theme", type === "raster" ? "raster-opacity" : "fill-opacity", state.opacity);
    }
    for (const level of LEVEL_ORDER) {
      if (map.getLayer(`units-fill-${level}`) && state.view === "units" && state.unitLegend) {
        map.setPaintProperty(`units-fill-${level}`, "fill-opacity", state.opacity);
      }
    }
    for (const name of OBJECT_ORDER) {
      if (map.getLayer(`obj-fill-${name}`) && state.objectFilled?.[name]) {
        map.setPaintProperty(`obj-fill-${name}`, "fill-opacity", state.opacity);
      }
    }
  }

  // ---------------------------------------------------------------- aggregated values per unit
  function unitFeatures(level) {
    const map = state.map;
    if (!map || !map.getSource(`units-${level}`)) return [];
    const seen = new Map();
    for (const f of map.querySourceFeatures(`units-${level}`, { sourceLayer: level })) {
      const code = f.properties?.code ?? f.id;
      if (!seen.has(code)) seen.set(code, f.properties || {});
    }
    return [...seen.values()];
  }

  /** The unit column that holds the active layer's aggregate (API field, else <id>_mean/<id>/<id>_sum). */
  function unitColumnFor(layer, props) {
    if (!layer) return null;
    const explicit = layer.unit_column || layer.column || layer.units_column;
    if (explicit) return explicit;
    if (!props) return null;
    for (const c of [`${layer.id}_mean`, layer.id, `${layer.id}_sum`, `${layer.id}_max`]) {
      if (props[c] !== undefined && props[c] !== null && !Number.isNaN(Number(props[c]))) return c;
    }
    return null;
  }

  function unitColumnAvailable() {
    return Boolean(state.unitColumn);
  }

  function quantileBreaks(values, n) {
    const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    if (!v.length) return null;
    const br = [];
    for (let i = 1; i < n; i += 1) br.push(v[Math.min(v.length - 1, Math.floor((i * v.length) / n))]);
    return { min: v[0], max: v[v.length - 1], breaks: br };
  }

  /** Colour the units of the level in view by the active layer's aggregate ("Average per area"). */
  function updateUnitStyle(force) {
    const map = state.map;
    if (!map || !state.mapReady) return;
    const level = currentLevel();
    const street = level === "street";
    const feats = street ? [] : unitFeatures(level);  // the street level needs no scan: its column is known
    const anyFeats = street ? Boolean(objectInfo(STREETS)?.count) : feats.length > 0;
    const layer = state.active;
    const col = street ? objectColumn(layer, STREETS) : unitColumnFor(layer, feats.find((p) => unitColumnFor(layer, p)) || feats[0]);
    state.unitColumn = col;
    const unitsRadio = document.querySelector("input[name=view][value=units]");
    let expr = null;
    let legend = null;
    let note = "";
    let key = `${layer?.id}|${level}|${state.cb}|${state.view}|${col}|${state.objectsShown}`;
    if (col && layer && street) {
      // the street level: the street segments' mean, in the same steps and colours as the cells
      expr = rampExpr(layer, col);
      legend = expr ? legendOf(layer) : null;
      if (!expr) state.unitColumn = null;
    } else if (col && layer) {
      const items = legendOf(layer);
      const range = Array.isArray(layer.range) && layer.range.length === 2 ? layer.range.map(Number) : null;
      const perCellScale = col === layer.id || /_(mean|max|min)$/.test(col);
      if (items.length && items.every((it) => it.value !== undefined && it.value !== null)) {
        // a class table with its values: the same colours as the raster
        expr = ["match", ["to-number", ["get", col], -9999], ...items.flatMap((it) => [Number(it.value), it.colour]), "rgba(0,0,0,0)"];
        legend = items;
      } else if (layer.id === "stress_class" && items.length) {
        // stress classes are numbered 1..n in legend order (biostress.stresstest.load_classes)
        expr = ["match", ["round", ["to-number", ["get", col], -9999]], ...items.flatMap((it, i) => [i + 1, it.colour]), "rgba(0,0,0,0)"];
        legend = items;
      } else if (range && perCellScale && items.length >= 2 && range[1] > range[0]) {
        // a ramp: equal steps from range[0] to range[1], as the raster tiles (values outside take the end colours)
        expr = rampExpr(layer, col);
        legend = items;
      } else if (items.length >= 2 && items.length <= 9 && range) {
        // sums per unit are not on the scale of the cells: classes from the units in view
        const vals = feats.map((p) => Number(p[col])).filter((x) => Number.isFinite(x));
        const q = quantileBreaks(vals, items.length);
        if (q) {
          key += `|${q.breaks.join(",")}`;
          expr = ["step", ["to-number", ["get", col], -1e30], "rgba(0,0,0,0)", -1e29, items[0].colour];
          const uniq = [];
          q.breaks.forEach((b, i) => { if (!uniq.length || b > uniq[uniq.length - 1][0]) uniq.push([b, items[i + 1].colour]); });
          for (const [b, c] of uniq) expr.push(b, c);
          const edges = [q.min, ...uniq.map((u) => u[0]), q.max];
          const cols = [items[0].colour, ...uniq.map((u) => u[1])];
          legend = cols.map((c, i) => ({ colour: c, label: `${fmtNum(edges[i])} – ${fmtNum(edges[i + 1])}` }));
          note = t("legend.units.note");
        }
      }
      if (!expr) state.unitColumn = null;
    }
    const possible = Boolean(expr);
    const na = street ? "layers.view.units.na.street" : "layers.view.units.na";
    $("view-na").dataset.i18n = na;
    $("view-na").textContent = t(na);
    $("view-na").hidden = possible || !layer || !anyFeats;
    unitsRadio.disabled = !possible && anyFeats;
    if (state.view !== "units") { expr = null; legend = null; note = ""; }
    if (!force && key === state.unitBreaksKey) return;
    state.unitBreaksKey = key;
    state.unitLegend = legend;
    state.unitLegendNote = note;
    // streets and managed objects: coloured by their own mean of the layer in "mean per area", else outlines only
    state.objectFilled = {};
    for (const name of OBJECT_ORDER) {
      const id = `obj-fill-${name}`;
      if (!map.getLayer(id)) continue;
      const ocol = state.view === "units" ? objectColumn(layer, name) : null;
      const oexpr = ocol ? rampExpr(layer, ocol) : null;
      state.objectFilled[name] = Boolean(oexpr);
      map.setPaintProperty(id, "fill-color", oexpr || "#000000");
      map.setPaintProperty(id, "fill-opacity", oexpr ? state.opacity : 0);
      if (name === STREETS && map.getLayer(`obj-line-${name}`)) {
        map.setLayoutProperty(`obj-line-${name}`, "visibility", state.view === "units" ? "visible" : "none");
      }
    }
    for (const lv of LEVEL_ORDER) {
      const id = `units-fill-${lv}`;
      if (!map.getLayer(id)) continue;
      if (expr && !street) {
        map.setPaintProperty(id, "fill-color", expr);
        map.setPaintProperty(id, "fill-opacity", state.opacity);
      } else {
        map.setPaintProperty(id, "fill-color", "#000000");
        map.setPaintProperty(id, "fill-opacity", 0);
      }
    }
    if (map.getLayer("theme")) {
      map.setLayoutProperty("theme", "visibility", state.view === "cells" || !possible ? "visible" : "none");
    }
    renderLegend();
  }

  // ---------------------------------------------------------------- map interaction
  function setHover(f) {
    const map = state.map;
    if (state.hovered) map.setFeatureState(state.hovered, { hover: false });
    state.hovered = null;
    if (f && f.id !== undefined) {
      state.hovered = { source: f.source, sourceLayer: f.sourceLayer, id: f.id };
      map.setFeatureState(state.hovered, { hover: true });
    }
  }

  function onMapHover(e) {
    if (state.drawing) { setHover(null); return; }
    if (proposalAt(e.point)) { setHover(null); state.map.getCanvas().style.cursor = "pointer"; return; }
    const feats = state.map.queryRenderedFeatures(e.point, { layers: pickLayers() });
    const f = feats[0];
    if ((f?.id ?? null) !== (state.hovered?.id ?? null)) setHover(f || null);
    state.map.getCanvas().style.cursor = f ? "pointer" : "";
  }

  /** The map layers a pointer picks: the unit fill of the level in view (the street fill at street level) and the
   * managed objects when shown. */
  function pickLayers() {
    const map = state.map;
    const level = currentLevel();
    const ids = level === "street" ? [] : [`units-fill-${level}`];
    for (const n of OBJECT_ORDER) if (objectInfo(n) && objectShown(n)) ids.push(`obj-fill-${n}`);
    return ids.filter((id) => map.getLayer(id));
  }

  function unitPopup(lngLat, point) {
    const map = state.map;
    const level = currentLevel();
    const unitLayer = level !== "street" && map.getLayer(`units-fill-${level}`) ? [`units-fill-${level}`] : [];
    const feats = point && unitLayer.length ? map.queryRenderedFeatures(point, { layers: unitLayer }) : [];
    const objs = point ? objectsAt(point) : [];
    state.objectsHere = { key: `${lngLat.lng},${lngLat.lat}`, list: objs };
    if (state.popup) state.popup.remove();
    const p = feats[0]?.properties;
    if (!p && !objs.length) return;
    const layer = state.active;
    const body = el("div", { class: "unit-popup" });
    for (const o of objs) body.append(objectPopupPart(o, layer));
    if (p) body.append(unitPopupPart(p, level, layer));
    body.append(el("button", { type: "button", class: "btn", text: t("popup.open"),
      onclick: () => { selectTab("plot", { focus: false }); $("plot-card").querySelector("h3")?.focus(); } }));
    state.popup = new maplibregl.Popup({ closeButton: true, maxWidth: "300px", focusAfterOpen: false })
      .setLngLat(lngLat).setDOMContent(body).addTo(map);
  }

  /** A street segment, verge, park or wood in the popup: its name, class and size, and the active layer's mean. */
  function objectPopupPart(o, layer) {
    const col = objectColumn(layer, o.name);
    const part = el("div", { class: "obj", "data-object": o.name, "data-id": String(o.props.id ?? "") },
      el("h3", { text: objectTitle(o) }), el("p", { class: "lvl", text: objectSubtitle(o) }));
    if (col) {
      const v = o.props[col];
      const text = v === undefined || v === null ? t("popup.novalue") : fmtValue(Number(v), layer.unit);
      part.append(el("dl", { class: "kv" }, el("dt", { text: `${layer.title || layer.id} (${t("popup.mean")})` }),
        el("dd", { text, "data-value": v === undefined || v === null ? "" : String(v) })));
    }
    return part;
  }

  function unitPopupPart(p, level, layer) {
    const col = unitColumnFor(layer, p);
    const body = el("div", { class: "unit" },
      el("h3", { text: p.name || p.code }),
      el("p", { class: "lvl", text: `${t(`level.${level}`)} · ${p.code || ""}` }));
    if (col && layer) {
      let text = p[col] === undefined || p[col] === null ? t("popup.novalue") : fmtValue(Number(p[col]), layer.unit);
      if (layer.id === "stress_class" && Number.isFinite(Number(p[col]))) {
        text = legendOf(layer)[Math.round(Number(p[col])) - 1]?.label || text;
      }
      const what = /_sum$/.test(col) ? t("popup.sum") : /_max$/.test(col) ? t("popup.max") : t("popup.mean");
      body.append(el("dl", { class: "kv" }, el("dt", { text: `${layer.title || layer.id} (${what})` }), el("dd", { text })));
    }
    return body;
  }

  function onMapClick(e) {
    if (state.drawing) {
      addVertex([e.lngLat.lng, e.lngLat.lat]);
      return;
    }
    const hit = proposalAt(e.point);
    if (hit) { proposalPopup(hit); return; }
    unitPopup(e.lngLat, e.point);
    loadPlot({ lng: e.lngLat.lng, lat: e.lngLat.lat });
  }

  function onMapDblClick(e) {
    if (!state.drawing) return;
    e.preventDefault();
    // the two clicks of a double-click have already added (nearly) the same point twice
    const v = state.vertices;
    const px = (c) => state.map.project(c);
    while (v.length >= 2) {
      const a = px(v[v.length - 1]);
      const b = px(v[v.length - 2]);
      if (Math.hypot(a.x - b.x, a.y - b.y) < 6) v.pop(); else break;
    }
    renderDraw();
    finishDrawing();
  }

  function onMapKey(e) {
    if (state.drawing) {
      if (e.key === " " || e.key === "Spacebar") { e.preventDefault(); addCentreVertex(); }
      else if (e.key === "Enter") { e.preventDefault(); finishDrawing(); }
      else if (e.key === "Escape") { e.preventDefault(); cancelDrawing(); }
      else if (e.key === "Backspace" || e.key === "Delete") { e.preventDefault(); undoVertex(); }
      return;
    }
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      const c = state.map.getCenter();
      const pt = state.map.project(c);
      unitPopup(c, pt);
      loadPlot({ lng: c.lng, lat: c.lat });
    }
  }

  // ---------------------------------------------------------------- search (geocoder)
  function setupSearch() {
    const input = $("search-input");
    const list = $("search-results");
    $("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      window.clearTimeout(state.searchTimer);
      if (!list.hidden && state.searchActive >= 0) { chooseResult(state.searchActive); return; }
      runSearch(input.value);
    });
    input.addEventListener("input", () => {
      window.clearTimeout(state.searchTimer);
      if (input.value.trim().length >= 3) state.searchTimer = window.setTimeout(() => runSearch(input.value, { quiet: true }), 350);
      else closeResults();
    });
    input.addEventListener("keydown", (e) => {
      const n = state.searchItems.length;
      if (e.key === "ArrowDown" && n) { e.preventDefault(); if (list.hidden) list.hidden = false; setActiveResult((state.searchActive + 1) % n); }
      else if (e.key === "ArrowUp" && n) { e.preventDefault(); setActiveResult((state.searchActive - 1 + n) % n); }
      else if (e.key === "Escape") { closeResults(); }
    });
    document.addEventListener("click", (e) => { if (!$("search-form").contains(e.target)) closeResults(); });
  }

  function closeResults() {
    $("search-results").hidden = true;
    $("search-input").setAttribute("aria-expanded", "false");
    $("search-input").removeAttribute("aria-activedescendant");
  }

  function setActiveResult(i) {
    state.searchActive = i;
    const items = $("search-results").querySelectorAll("[role=option]");
    items.forEach((li, j) => li.setAttribute("aria-selected", String(i === j)));
    if (items[i]) {
      $("search-input").setAttribute("aria-activedescendant", items[i].id);
      items[i].scrollIntoView({ block: "nearest" });
    }
  }

  async function runSearch(q, { quiet = false } = {}) {
    q = (q || "").trim();
    if (!q) return;
    const seq = ++state.searchSeq;
    let res;
    try {
      res = await api(withLang(`/api/geocode?q=${encodeURIComponent(q)}`));
    } catch (e) {
      if (!quiet) toast(t("error.generic", { msg: e.message }));
      return;
    }
    if (seq !== state.searchSeq) return;  // an older request answered late
    state.searchItems = Array.isArray(res) ? res : [];
    const list = $("search-results");
    list.replaceChildren();
    if (!state.searchItems.length) {
      list.append(el("li", { class: "none", role: "option", "aria-disabled": "true", text: t("search.none", { q }) }));
    }
    state.searchItems.forEach((r, i) => {
      const kind = r.kind ? (t(`search.kind.${r.kind}`) !== `search.kind.${r.kind}` ? t(`search.kind.${r.kind}`) : (t(`level.${r.kind}`) !== `level.${r.kind}` ? t(`level.${r.kind}`) : r.kind)) : "";
      list.append(el("li", { id: `search-opt-${i}`, role: "option", "aria-selected": "false",
        onclick: () => chooseResult(i) }, el("span", { text: r.label }), kind ? el("span", { class: "kind", text: kind }) : null));
    });
    list.hidden = false;
    $("search-input").setAttribute("aria-expanded", "true");
    state.searchActive = -1;
    if (state.searchItems.length) setActiveResult(0);
    announce(state.searchItems.length ? t("search.results", { n: state.searchItems.length }) : t("search.none", { q }));
  }

  function chooseResult(i) {
    const r = state.searchItems[i];
    if (!r) return;
    window.clearTimeout(state.searchTimer);
    state.searchSeq += 1;  // answers still under way are no longer wanted
    closeResults();
    $("search-input").value = r.label;
    const lng = Number(r.x);
    const lat = Number(r.y);
    if (state.map) {
      const bb = Array.isArray(r.bbox) && r.bbox.length === 4 ? r.bbox.map(Number) : null;
      if (bb && bb[2] - bb[0] > 1e-4) state.map.fitBounds([[bb[0], bb[1]], [bb[2], bb[3]]], { padding: 40, maxZoom: 17, duration: anim(500) });
      else state.map.flyTo({ center: [lng, lat], zoom: Math.max(state.map.getZoom(), state.levelBreaks[1] + 1), duration: anim(500) });
    }
    loadPlot({ lng, lat }, { label: r.label });
  }

  // ---------------------------------------------------------------- my plot
  async function loadPlot(at, { label = null, quiet = false, keepTab = false } = {}) {
    state.plotAt = at;
    state.plotLabel = label;
    if (!keepTab) selectTab("plot");
    const card = $("plot-card");
    $("plot-intro").hidden = true;
    if (!quiet) card.replaceChildren(el("p", {}, el("span", { class: "spinner", "aria-hidden": "true" }), t("plot.loading")));
    if (state.map) {
      if (!state.plotMarker) {
        state.plotMarker = new maplibregl.Marker({ color: "#7a3e00" });
      }
      state.plotMarker.setLngLat([at.lng, at.lat]).addTo(state.map);
    }
    let data;
    try {
      data = expandCard(await api(withLang(`/api/plot?x=${at.lng}&y=${at.lat}&crs=EPSG:4326&compact=true`)));
    } catch (e) {
      if (state.plotAt !== at) return;
      const outside = e.status === 404 || e.status === 422 || e.status === 400;
      card.replaceChildren(el("p", { class: outside ? "muted" : "msg-err", text: outside ? `${t("plot.outside")} (${e.message})` : t("error.generic", { msg: e.message }) }));
      return;
    }
    if (state.plotAt !== at) return;  // the user clicked elsewhere meanwhile
    state.plot = data;
    renderPlot(data, label);
    if (!quiet) announce(t("plot.heading"));
  }

  /** The compact card (`/api/plot?compact=true`, docs/web.md "Plot card") joined with the texts of the
   * layers and measures of this language (`/api/layers`, `/api/measures`): the card `/api/plot` gives. */
  function expandCard(d) {
    if (!d || !d.compact) return d;
    const item = (triple) => {
      const [id, value, k] = triple;
      const layer = state.layerById.get(id);
      const entry = k === null || k === undefined ? null : layer?.legend?.[k];
      return { id, title: layer?.title ?? id, value, unit: layer?.unit ?? "",
        class_label: value === null ? t("plot.nodata") : (entry?.label ?? null), colour: entry?.colour ?? null };
    };
    const items = (list) => (Array.isArray(list) ? list.map(item) : []);
    const potential = items(d.potential);
    let stress = null;
    if (Array.isArray(d.stress_class)) {
      stress = item(d.stress_class);
      const k = d.stress_class[2];
      const cb = k === null || k === undefined ? null : state.layerById.get("stress_class")?.legend_cb?.[k];
      stress = { ...stress, label: stress.class_label, colour_cb: cb?.colour ?? null };
    }
    let measures = null;
    if (Array.isArray(d.measures)) {
      const fields = d.measure_fields || [];
      measures = d.measures.map((row, i) => {
        const id = d.measure_ids[i];
        const m = state.measureById.get(id) || {};
        const out = { id, name: m.name ?? id, explain: m.explain ?? "", unit: m.unit ?? "",
          subsidies: m.subsidies || [], guide_species: m.guide_species || [] };
        fields.forEach((f, j) => { out[f] = row[j]; });
        return { ...out, fits: out.cells_fit > 0, cells: d.cells, unknown_variables: d.unknown_variables?.[id] || [] };
      });
    }
    const { compact, cells, measure_fields, measure_ids, unknown_variables, ...head } = d;  // eslint-disable-line no-unused-vars
    return { ...head, values: items(d.values), stress_class: stress, pressures: items(d.pressures),
      potential: { values: potential, landcover: potential.find((v) => v.id === "potential_landcover") ?? null },
      opportunities: items(d.opportunities), guide_species: items(d.guide_species), measures };
  }

  const hasValue = (v) => v && v.value !== null && v.value !== undefined && !(typeof v.value === "number" && Number.isNaN(v.value));

  /** Is the layer a class map (no numeric ramp)? Then the class label is the value to show. */
  function isCategorical(item) {
    const layer = state.layerById.get(item.id);
    if (layer) return !Array.isArray(layer.range);
    return /^(klasse|class|categor|groep|group|maatregel|measure)/i.test(item.unit || "");
  }

  function valueRow(v) {
    const cat = isCategorical(v);
    const layer = state.layerById.get(v.id);
    const title = v.title || layer?.title || v.id || v.name || "";
    const colour = (state.cb && v.colour_cb) || v.colour;
    const shown = cat ? (v.class_label || String(v.value)) : fmtValue(v.value, v.unit ?? layer?.unit);
    return el("li", { "data-id": v.id || "" },
      el("span", { class: "sw", style: { background: colour || "transparent" }, "aria-hidden": "true" }),
      el("span", { text: title }),
      el("span", { class: "v", text: shown }));
  }

  /** A list of values; the ones without data are named in one muted line, more than `max` go behind "more". */
  function valueList(items, { max = 99 } = {}) {
    const withData = items.filter(hasValue);
    const without = items.filter((v) => !hasValue(v));
    const wrap = el("div");
    if (withData.length) wrap.append(el("ul", { class: "vals" }, ...withData.slice(0, max).map(valueRow)));
    if (withData.length > max) {
      wrap.append(el("details", { class: "more" }, el("summary", { text: t("plot.more", { n: withData.length - max }) }),
        el("ul", { class: "vals" }, ...withData.slice(max).map(valueRow))));
    }
    if (without.length) {
      const names = without.map((v) => v.title || state.layerById.get(v.id)?.title || v.id);
      wrap.append(el("p", { class: "small muted nodata", text: `${t("plot.nodata.list")}: ${names.join(", ")}` }));
    }
    return wrap;
  }

  /** potential / pressures / opportunities may be a list of values, {values: [...], ...} or a sentence. */
  function asItems(x) {
    if (x === null || x === undefined) return [];
    if (Array.isArray(x)) return x.filter((v) => v && typeof v === "object");
    if (typeof x === "object") {
      const out = [];
      for (const [k, v] of Object.entries(x)) {
        if (Array.isArray(v)) out.push(...v.filter((e) => e && typeof e === "object"));
        else if (v && typeof v === "object" && ("value" in v)) out.unshift({ id: v.id || k, ...v });
        else if (typeof v === "number") out.push({ id: k, title: state.layerById.get(k)?.title || k.replace(/_/g, " "), value: v, unit: state.layerById.get(k)?.unit });
      }
      return out.filter((v, i) => !v.id || out.findIndex((w) => w.id === v.id) === i);  // landcover is in values too
    }
    return [];
  }

  function section(title, ...content) {
    return el("section", { class: "card" }, el("h3", { text: title }), ...content);
  }

  function stressBadge(sc) {
    if (sc === null || sc === undefined) return null;
    let value = sc;
    let label = null;
    let colour = null;
    if (typeof sc === "object") {
      value = sc.value ?? sc.class ?? sc.stress_class;
      label = sc.label || sc.class_label;
      colour = (state.cb && sc.colour_cb) || sc.colour || sc.color;
    }
    if (value === null || value === undefined) return el("p", { class: "stress-badge", text: `${t("plot.stress")}: ${t("plot.nodata")}` });
    const layer = state.layerById.get("stress_class");
    if (layer && Number.isFinite(Number(value))) {
      const items = legendOf(layer);
      const it = items.find((x) => Number(x.value) === Number(value)) || items[Number(value) - 1];
      if (it) { label = label || it.label; if (state.cb || !colour) colour = it.colour; }
    }
    return el("p", { class: "stress-badge" },
      colour ? el("span", { class: "sw", style: { background: colour }, "aria-hidden": "true" }) : null,
      el("span", { text: `${t("plot.stress")}: ${label || value}` }));
  }

  function subsidyText(s) {
    if (!s) return "";
    if (typeof s === "string") return s;
    const parts = [s.programme || s.name || ""];
    if (s.amount_eur) parts.push(`${fmtEur(s.amount_eur)}${s.per && s.per !== "unit" ? `/${s.per}` : ` ${t("plot.perunit")}`}`);
    if (s.share) parts.push(`${fmtNum(100 * s.share, 0)}%`);
    if (s.max_eur) parts.push(`max. ${fmtEur(s.max_eur)}`);
    return parts.filter(Boolean).join(" · ");
  }

  const present = (v) => v !== null && v !== undefined && v !== "" && !(typeof v === "number" && Number.isNaN(v));

  function measureCard(m) {
    const cat = state.measureById.get(m.id);
    const name = m.name || measureName(cat) || m.id;
    const fits = m.fits;
    const fitsOk = fits === true || (typeof fits === "number" && fits > 0) || fits === "yes";
    const kv = el("dl", { class: "kv" });
    const add = (k, v) => { if (present(v)) kv.append(el("dt", { text: k }), el("dd", { text: v })); };
    const unit = m.unit || cat?.unit || "";
    add(t("plot.quantity"), present(m.quantity) && m.quantity > 0 ? `${fmtNum(m.quantity)} ${unit}` : null);
    add(t("plot.cost"), present(m.cost_eur) ? fmtEur(m.cost_eur) : null);
    add(t("plot.capex"), present(m.capex_eur) && m.capex_eur !== m.cost_eur ? fmtEur(m.capex_eur) : null);
    add(t("plot.eac"), present(m.eac_eur_yr) ? `${fmtEur(m.eac_eur_yr)} ${t("per.year")}` : null);
    add(t("plot.gain"), present(m.gain) ? `${fmtNum(m.gain)} ${t("plot.gain.unit")}` : null);
    add(t("plot.cooling"), present(m.cooling) && m.cooling !== 0 ? `${fmtNum(m.cooling)} ${t("plot.cooling.unit")}` : null);
    add(t("plot.water"), present(m.water_m3) && m.water_m3 !== 0 ? `${fmtNum(m.water_m3)} m³` : null);
    const subs = (Array.isArray(m.subsidies) ? m.subsidies : m.subsidies ? [m.subsidies] : []).map(subsidyText).filter(Boolean);
    add(t("plot.subsidies"), subs.length ? subs.join("; ") : null);
    const gs = Array.isArray(m.guide_species) ? m.guide_species.map((g) => (typeof g === "string" ? g.replace(/_/g, " ") : g.name || g.id)) : [];
    add(t("plot.guide"), gs.length ? gs.join(", ") : null);
    let fitText = t(fitsOk ? "plot.fits" : "plot.fits.not");
    if (present(m.cells_fit) && present(m.cells) && m.cells > 0) fitText += ` (${t("plot.cells", { n: m.cells_fit, of: m.cells })})`;
    return el("div", { class: "measure-card", "data-measure": m.id },
      el("h4", { text: name }),
      fits === undefined || fits === null ? null : el("span", { class: `badge ${fitsOk ? "fit" : "nofit"}`, text: fitText }),
      kv,
      el("div", { class: "btn-row" },
        el("button", { type: "button", class: "btn", text: t("plot.try"), "aria-label": `${t("plot.try")}: ${name}`, onclick: () => {
          $("scenario-measure").value = m.id;
          selectTab("scenario", { focus: true });
        } }),
        el("button", { type: "button", class: "btn", text: t("plot.explain"), "aria-label": `${t("plot.explain")}: ${name}`,
          onclick: () => showExplain({ type: "measure", id: m.id }) })));
  }

  function reportLinks(url) {
    const pdf = /format=html/.test(url) ? url.replace("format=html", "format=pdf") : null;
    return el("p", { class: "btn-row report-links" },
      el("a", { class: "btn btn-primary", href: url, target: "_blank", rel: "noopener", id: "plot-report", text: t("plot.report") }),
      el("a", { class: "btn", href: url, download: "plot_report.html", id: "plot-report-html", text: t("plot.report.html") }),
      pdf ? el("a", { class: "btn", href: pdf, download: "plot_report.pdf", id: "plot-report-pdf", text: t("plot.report.pdf") }) : null);
  }

  function renderPlot(d, label) {
    const card = $("plot-card");
    card.replaceChildren();
    const u = d.units || {};
    const title = d.address || label || d.buurt?.name || `${Number(d.y).toFixed(5)}, ${Number(d.x).toFixed(5)}`;
    const dl = el("dl", { class: "kv" });
    const unitName = (x) => (x ? (x.name && x.name !== x.code ? `${x.name} (${x.code})` : x.code) : null);
    if (d.buurt || u.buurt) dl.append(el("dt", { text: t("plot.buurt") }), el("dd", { text: unitName(d.buurt || u.buurt) }));
    if (u.wijk) dl.append(el("dt", { text: t("plot.wijk") }), el("dd", { text: unitName(u.wijk) }));
    if (d.parcel) dl.append(el("dt", { text: t("plot.parcel") }), el("dd", { class: "parcel", text: `${d.parcel.id} (${fmtNum(d.parcel.area_m2, 0)} m²)` }));
    dl.append(el("dt", { text: t("plot.coords") }), el("dd", { text: `${Number(d.y).toFixed(5)} N, ${Number(d.x).toFixed(5)} E` }));
    const values = Array.isArray(d.values) ? d.values : [];
    const stressVals = values.filter((v) => /^stress_/.test(v.id || ""));
    const nowVals = values.filter((v) => !/^stress_/.test(v.id || ""));
    card.append(el("section", { class: "card plot-head" }, el("h3", { tabindex: "-1", text: title }), dl,
      stressBadge(d.stress_class), stressVals.length ? valueList(stressVals) : null));
    const objs = objectsSection();
    if (objs) card.append(objs);
    if (nowVals.length) card.append(section(t("plot.now"), valueList(nowVals)));
    const pre = asItems(d.pressures);
    if (pre.length) card.append(section(t("plot.pressures"), valueList(pre)));
    const pot = asItems(d.potential);
    if (pot.length) {
      const gain = pot.filter((v) => /^gap_|landcover/.test(v.id || ""));
      const rest = pot.filter((v) => !gain.includes(v));
      const box = valueList(gain.length ? gain : pot);
      if (gain.length && rest.length) {
        box.append(el("details", { class: "more" }, el("summary", { text: t("plot.potential.all") }), valueList(rest)));
      }
      card.append(section(t("plot.potential"), el("p", { class: "small muted", text: t("plot.potential.help") }), box));
    }
    const opp = asItems(d.opportunities).filter(hasValue);
    if (opp.length) card.append(section(t("plot.opportunities"), valueList(opp, { max: 4 })));
    const gsp = Array.isArray(d.guide_species) ? d.guide_species : [];
    if (gsp.length) {
      card.append(section(t("plot.guide"), el("ul", { class: "plain" }, ...gsp.map((g) =>
        el("li", { text: typeof g === "string" ? g.replace(/_/g, " ") : [g.name || g.id, g.status || g.note].filter(Boolean).join(": ") })))));
    }
    const ms = Array.isArray(d.measures) ? d.measures : [];
    const fitting = ms.filter((m) => m.fits === true || m.fits > 0);
    const others = ms.filter((m) => !fitting.includes(m));
    const mbox = section(t("plot.measures"));
    if (d.radius_m) mbox.append(el("p", { class: "small muted", text: t("plot.measures.help", { r: fmtNum(d.radius_m, 0) }) }));
    if (!fitting.length) mbox.append(el("p", { class: "muted", text: t("plot.measures.none") }));
    for (const m of fitting.slice(0, 6)) mbox.append(measureCard(m));
    const rest = [...fitting.slice(6), ...others];
    if (rest.length) {
      mbox.append(el("details", { class: "more" }, el("summary", { text: t("plot.measures.more", { n: rest.length }) }),
        ...rest.map(measureCard)));
    }
    card.append(mbox);
    if (d.report_url) card.append(reportLinks(d.report_url));
    card.append(proposalForm(d));
  }

  // ---------------------------------------------------------------- participation
  function proposalForm(d) {
    const msg = el("p", { id: "propose-msg", role: "status" });
    const measureSel = el("select", { id: "propose-measure" },
      el("option", { value: "", text: t("propose.measure.none") }),
      ...state.measures.map((m) => el("option", { value: m.id, text: measureName(m) })));
    const measureField = el("div", { class: "field" }, el("label", { for: "propose-measure", text: t("propose.measure") }), measureSel);
    const speciesField = el("div", { class: "field", hidden: true },
      el("label", { for: "propose-species", text: t("propose.species") }),
      el("input", { type: "text", id: "propose-species", maxlength: "120" }));
    const text = el("textarea", { id: "propose-text", rows: "4", maxlength: String(TEXT_MAX), required: true,
      "aria-describedby": "propose-text-help" });
    const kindChange = (e) => {
      const obs = e.target.value === "observation";
      measureField.hidden = obs;
      speciesField.hidden = !obs;
    };
    const form = el("form", { class: "propose-form", novalidate: true },
      el("fieldset", {}, el("legend", { text: t("propose.kind") }),
        el("label", {}, el("input", { type: "radio", name: "propose-kind", value: "measure", checked: true, onchange: kindChange }), " ", t("propose.kind.measure")),
        el("label", {}, el("input", { type: "radio", name: "propose-kind", value: "observation", onchange: kindChange }), " ", t("propose.kind.observation"))),
      measureField, speciesField,
      el("div", { class: "field" }, el("label", { for: "propose-text", text: t("propose.text") }), text,
        el("p", { class: "help", id: "propose-text-help", text: t("propose.text.help", { n: TEXT_MAX }) })),
      el("div", { class: "field" }, el("label", { for: "propose-contact", text: t("propose.contact") }),
        el("input", { type: "text", id: "propose-contact", maxlength: "200", autocomplete: "email" })),
      el("button", { type: "submit", class: "btn btn-primary", id: "propose-submit", text: t("propose.submit") }),
      msg);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const kind = form.querySelector("input[name=propose-kind]:checked").value;
      const body = { kind, x: Number(d.x ?? state.plotAt?.lng), y: Number(d.y ?? state.plotAt?.lat), text: text.value.trim() };
      msg.className = "msg-err";
      if (!body.text) { msg.textContent = t("propose.empty"); text.focus(); return; }
      if (kind === "measure") {
        if (!measureSel.value) { msg.textContent = t("propose.measure.missing"); measureSel.focus(); return; }
        body.measure = measureSel.value;
      } else {
        const sp = $("propose-species").value.trim();
        if (sp) body.species = sp;
      }
      const contact = $("propose-contact").value.trim();
      if (contact) body.contact = contact;
      const btn = $("propose-submit");
      btn.disabled = true;
      try {
        const res = await api("/api/proposals", { method: "POST", body });
        msg.className = "msg-ok";
        msg.textContent = t("propose.sent", { id: res?.id ?? "?" });
        form.reset();
        measureField.hidden = false;
        speciesField.hidden = true;
      } catch (err) {
        msg.className = "msg-err";
        msg.textContent = t("error.generic", { msg: err.message });
      } finally {
        btn.disabled = false;
      }
    });
    return el("details", { class: "propose card", id: "propose" }, el("summary", { text: t("propose.heading") }), form);
  }

  // ---------------------------------------------------------------- scenario
  function renderMeasureSelect() {
    const sel = $("scenario-measure");
    const keep = sel.value;
    sel.replaceChildren(el("option", { value: "", text: t("scenario.measure.pick") }),
      ...state.measures.map((m) => el("option", { value: m.id, text: measureName(m) })));
    if (keep && state.measureById.has(keep)) sel.value = keep;
  }

  function drawFeatures() {
    const v = state.vertices;
    const feats = v.map((c) => ({ type: "Feature", geometry: { type: "Point", coordinates: c }, properties: {} }));
    if (v.length >= 3 && !state.drawing) {
      feats.push({ type: "Feature", geometry: { type: "Polygon", coordinates: [[...v, v[0]]] }, properties: {} });
    } else if (v.length >= 3) {
      feats.push({ type: "Feature", geometry: { type: "Polygon", coordinates: [[...v, v[0]]] }, properties: {} });
    } else if (v.length === 2) {
      feats.push({ type: "Feature", geometry: { type: "LineString", coordinates: v }, properties: {} });
    }
    return { type: "FeatureCollection", features: feats };
  }

  function renderDraw() {
    if (state.map?.getSource("draw")) state.map.getSource("draw").setData(drawFeatures());
    updateDrawCount();
  }

  function updateDrawCount() {
    $("draw-count").textContent = state.drawing ? t("scenario.points", { n: state.vertices.length }) : "";
  }

  function startDrawing() {
    if (!state.map) { toast(t("map.nowebgl")); return; }
    state.drawing = true;
    state.vertices = [];
    if (state.popup) state.popup.remove();
    state.map.doubleClickZoom.disable();
    $("btn-draw").setAttribute("aria-pressed", "true");
    $("btn-draw").textContent = t("scenario.drawing");
    $("draw-tools").hidden = false;
    document.querySelector(".map-wrap").classList.add("show-crosshair", "drawing");
    renderDraw();
    announce(t("scenario.help"));
  }

  function stopDrawing() {
    state.drawing = false;
    state.map?.doubleClickZoom.enable();
    $("btn-draw").setAttribute("aria-pressed", "false");
    $("btn-draw").textContent = t("scenario.draw");
    $("draw-tools").hidden = true;
    document.querySelector(".map-wrap").classList.remove("show-crosshair", "drawing");
    updateDrawCount();
  }

  function addVertex(c) {
    state.vertices.push(c);
    renderDraw();
    announce(t("scenario.points", { n: state.vertices.length }));
  }

  function addCentreVertex() {
    if (!state.drawing) return;
    const c = state.map.getCenter();
    addVertex([c.lng, c.lat]);
  }

  function undoVertex() {
    state.vertices.pop();
    renderDraw();
  }

  function cancelDrawing() {
    if (!state.drawing) return;
    state.vertices = [];
    stopDrawing();
    renderDraw();
    announce(t("scenario.cancelled"));
    $("btn-draw").focus();
  }

  async function finishDrawing() {
    if (!state.drawing) return;
    const v = state.vertices;
    if (v.length < 3) { announce(t("scenario.need3")); toast(t("scenario.need3")); return; }
    const measure = $("scenario-measure").value;
    if (!measure) {
      toast(t("scenario.needmeasure"));
      selectTab("scenario");
      $("scenario-measure").focus();
      return;
    }
    stopDrawing();
    renderDraw();
    await computeScenario(measure, { type: "Polygon", coordinates: [[...v, v[0]]] });
  }

  /** POST the scenario and show its result, change map and (for editors) the form to save it as a plan. */
  async function computeScenario(measure, polygon) {
    const v = polygon.coordinates[0].slice(0, -1);
    const box = $("scenario-result");
    box.replaceChildren(el("p", {}, el("span", { class: "spinner", "aria-hidden": "true" }), t("scenario.computing")));
    selectTab("scenario");
    try {
      const res = await api(withLang("/api/scenario"), { method: "POST", body: { measure, polygon } });
      state.scenario = { ...res, measure, polygon };
      state.scenarioLayer = null;
      renderScenarioResult();
      updateScenarioLayer();
      fitPolygon(v);
      announce(t("scenario.done"));
    } catch (e) {
      state.scenario = null;
      removeScenarioLayer();
      renderPlanSave();
      box.replaceChildren(el("p", { class: "msg-err", text: t("error.generic", { msg: e.message }) }));
    }
    $("btn-clear-scenario").hidden = false;
  }

  /** Show a drawn area with some surroundings (the computation window is much larger: it holds the halo). */
  function fitPolygon(v) {
    if (!state.map || !v.length) return;
    const xs = v.map((c) => c[0]);
    const ys = v.map((c) => c[1]);
    const dx = (Math.max(...xs) - Math.min(...xs)) * 0.6;
    const dy = (Math.max(...ys) - Math.min(...ys)) * 0.6;
    state.map.fitBounds([[Math.min(...xs) - dx, Math.min(...ys) - dy], [Math.max(...xs) + dx, Math.max(...ys) + dy]],
      { padding: fitPadding(), maxZoom: 17.5, duration: anim(600) });
  }

  function clearScenario() {
    state.scenario = null;
    renderPlanSave();
    state.vertices = [];
    if (state.drawing) stopDrawing();
    renderDraw();
    $("scenario-result").replaceChildren();
    removeScenarioLayer();
    $("btn-clear-scenario").hidden = true;
  }

  /** {layer id: {tiles, title, legend}} of the scenario's change maps. */
  function deltaLayers() {
    const s = state.scenario;
    if (!s) return {};
    const out = {};
    if (Array.isArray(s.delta_layers) && s.delta_layers.length && typeof s.delta_layers[0] === "object") {
      for (const d of s.delta_layers) out[d.layer || d.id] = { tiles: d.tiles, title: d.title, legend: d.legend, unit: d.unit };
      return out;
    }
    const d = s.delta_tiles;
    if (!d) return out;
    if (typeof d === "object") {
      for (const [k, v] of Object.entries(d)) out[k] = { tiles: v };
      return out;
    }
    const tpl = String(d);
    if (!tpl.includes("{layer}")) return { change: { tiles: tpl } };
    const ids = Array.isArray(s.delta_layers) ? s.delta_layers
      : [...new Set((s.totals || []).filter((x) => Number(x.change)).map((x) => x.layer || x.indicator).filter(Boolean))];
    for (const id of ids) out[id] = { tiles: tpl.split("{layer}").join(id) };
    return out;
  }

  const COST_LABELS = {
    nl: { capex_eur: "Aanleg", opex_eur_yr: "Onderhoud", npv_eur: "Netto contante waarde", eac_eur_yr: "Kosten per jaar (annuïteit)",
      eac_eur: "Kosten per jaar (annuïteit)", subsidy_eur: "Subsidie", net_capex_eur: "Aanleg na subsidie", area_ha: "Oppervlakte",
      area_m2: "Oppervlakte", quantity: "Hoeveelheid", cost_eur: "Kosten", payback_year: "Terugverdiend in jaar",
      horizon_yr: "Looptijd", revenue_eur_yr: "Opbrengst", avoided_damage_eur_yr: "Vermeden schade" },
    en: { capex_eur: "Construction", opex_eur_yr: "Maintenance", npv_eur: "Net present value", eac_eur_yr: "Cost per year (annuity)",
      eac_eur: "Cost per year (annuity)", subsidy_eur: "Subsidy", net_capex_eur: "Construction after subsidy", area_ha: "Area",
      area_m2: "Area", quantity: "Quantity", cost_eur: "Cost", payback_year: "Paid back in year",
      horizon_yr: "Horizon", revenue_eur_yr: "Revenue", avoided_damage_eur_yr: "Avoided damage" },
  };
  const COST_SKIP = new Set(["measure", "name", "name_en", "name_nl", "unit", "unquantified", "id"]);

  function costValue(k, v, cost) {
    if (v === null || v === undefined) return "–";
    if (typeof v !== "number") return String(v);
    if (/_eur(_yr)?$/.test(k)) return fmtEur(v) + (/_yr$/.test(k) ? ` ${t("per.year")}` : "");
    if (k === "quantity") return `${fmtNum(v)} ${cost.unit || ""}`.trim();
    if (/_m2$/.test(k)) return `${fmtNum(v)} m²`;
    if (/_m3$/.test(k)) return `${fmtNum(v)} m³`;
    if (/_ha$/.test(k)) return `${fmtNum(v)} ha`;
    if (/_yr$/.test(k)) return `${fmtNum(v)} ${t("years")}`;
    return fmtNum(v);
  }

  /** "+0,013", "−11%", or "≈ 0" when the change is smaller than the shown precision. */
  function changeText(ch, unit) {
    const abs = fmtValue(Math.abs(ch), unit, { bare: true });
    if (/^0([.,]0*)?%?$/.test(abs)) return "≈ 0";
    return `${ch > 0 ? "+" : "−"}${abs}`;
  }

  function renderScenarioResult() {
    const s = state.scenario;
    const box = $("scenario-result");
    box.replaceChildren();
    if (!s) return;
    const m = state.measureById.get(s.measure);
    if (s.saved) box.append(savedPlanBanner(s));
    box.append(el("h3", { text: `${t("scenario.result")}: ${measureName(m) || s.measure}` }));
    const totals = Array.isArray(s.totals) ? s.totals : [];
    const changed = totals.filter((r) => Number.isFinite(Number(r.change)) && Math.abs(Number(r.change)) > 1e-9);
    const same = totals.filter((r) => !changed.includes(r));
    if (changed.length) {
      const tbody = el("tbody");
      for (const r of changed) {
        const layer = state.layerById.get(r.indicator);
        const unit = r.unit ?? layer?.unit;
        const ch = Number(r.change);
        const better = r.better ?? r.improves;
        const cls = better === true ? "pos" : better === false ? "neg" : "";
        tbody.append(el("tr", { "data-indicator": r.indicator },
          el("th", { scope: "row" }, r.title || layer?.title || String(r.indicator).replace(/_/g, " "),
            unitLabel(unit) ? el("span", { class: "unit", text: unitLabel(unit) }) : null),
          el("td", { text: fmtValue(r.before, unit, { bare: true }) }),
          el("td", { text: fmtValue(r.after, unit, { bare: true }) }),
          el("td", { class: cls, text: changeText(ch, unit) })));
      }
      box.append(el("p", { class: "small muted", text: t("scenario.totals.help") }),
        el("div", { class: "table-wrap" }, el("table", { class: "totals" },
          el("caption", { class: "sr-only", text: t("scenario.result") }),
          el("thead", {}, el("tr", {}, el("th", { scope: "col", text: t("scenario.indicator") }),
            el("th", { scope: "col", text: t("scenario.before") }), el("th", { scope: "col", text: t("scenario.after") }),
            el("th", { scope: "col", text: t("scenario.change") }))), tbody)));
    } else {
      box.append(el("p", { class: "muted", text: t("scenario.nochange") }));
    }
    if (same.length && changed.length) {
      box.append(el("p", { class: "small muted", text: `${t("scenario.unchanged")}: ${same.map((r) => r.title || r.indicator).join(", ")}` }));
    }
    const lc = Array.isArray(s.landcover) ? s.landcover.filter((r) => Math.abs(Number(r.change_ha)) > 1e-6) : [];
    if (lc.length) {
      box.append(el("h4", { text: t("scenario.landcover") }), el("ul", { class: "vals" }, ...lc.map((r) => {
        const ha = Number(r.change_ha);
        return el("li", {}, el("span", { class: "sw", "aria-hidden": "true", style: { background: "transparent", border: 0 } }),
          el("span", { text: r.name || r.class }),
          el("span", { class: "v", text: `${ha > 0 ? "+" : "−"}${fmtNum(Math.abs(ha) * 10000, 0)} m²` }));
      })));
    }
    if (s.cost && typeof s.cost === "object") {
      const labels = COST_LABELS[state.lang];
      const kv = el("dl", { class: "kv" });
      for (const [k, v] of Object.entries(s.cost)) {
        if (COST_SKIP.has(k) || v === null || typeof v === "object") continue;
        kv.append(el("dt", { text: labels[k] || k.replace(/_/g, " ") }), el("dd", { text: costValue(k, v, s.cost) }));
      }
      box.append(el("h4", { text: t("scenario.cost") }), kv);
      if (s.cost.unquantified) box.append(el("p", { class: "small muted", text: `${t("scenario.unquantified")}: ${String(s.cost.unquantified).replace(/_eur_yr|_yr|_eur/g, "").replace(/_/g, " ")}` }));
    }
    for (const n of Array.isArray(s.notes) ? s.notes : []) box.append(el("p", { class: "small muted", text: n }));
    const layers = deltaLayers();
    const ids = Object.keys(layers);
    if (ids.length) {
      const sel = el("select", { id: "scenario-layer" }, ...ids.map((id) =>
        el("option", { value: id, text: layers[id].title || state.layerById.get(id)?.title || totals.find((x) => x.indicator === id)?.title || id })));
      sel.value = state.scenarioLayer && layers[state.scenarioLayer] ? state.scenarioLayer : ids[0];
      sel.addEventListener("change", () => { state.scenarioLayer = sel.value; updateScenarioLayer(); renderDeltaLegend(); });
      box.append(el("div", { class: "field" }, el("label", { for: "scenario-layer", text: t("scenario.layer") }), sel,
        el("p", { class: "help", text: t("scenario.layer.help") })), el("ul", { class: "legend-items", id: "delta-legend" }));
      renderDeltaLegend();
    }
    renderPlanSave();
  }

  function renderDeltaLegend() {
    const ul = $("delta-legend");
    if (!ul) return;
    const layers = deltaLayers();
    const id = state.scenarioLayer && layers[state.scenarioLayer] ? state.scenarioLayer : Object.keys(layers)[0];
    const legend = layers[id]?.legend || state.scenario?.delta_legend || [];
    ul.replaceChildren(...legend.map((it) => el("li", {},
      el("span", { class: "sw", style: { background: it.colour }, "aria-hidden": "true" }), el("span", { text: it.label }))));
  }

  function removeScenarioLayer() {
    const map = state.map;
    if (!map) return;
    if (map.getLayer("scenario-delta")) map.removeLayer("scenario-delta");
    if (map.getSource("scenario-delta")) map.removeSource("scenario-delta");
  }

  function updateScenarioLayer() {
    const map = state.map;
    if (!map || !state.mapReady) return;
    removeScenarioLayer();
    const layers = deltaLayers();
    const ids = Object.keys(layers);
    if (!ids.length) return;
    const id = state.scenarioLayer && layers[state.scenarioLayer] ? state.scenarioLayer : ids[0];
    state.scenarioLayer = id;
    map.addSource("scenario-delta", { type: "raster", tiles: [tilesUrl(layers[id].tiles)], tileSize: 256, maxzoom: 17 });
    map.addLayer({ id: "scenario-delta", type: "raster", source: "scenario-delta",
      paint: { "raster-opacity": 0.9, "raster-resampling": "nearest" } }, "units-casing-gemeente");
  }

  function setupScenarioControls() {
    $("btn-draw").addEventListener("click", () => (state.drawing ? cancelDrawing() : startDrawing()));
    $("btn-add-centre").addEventListener("click", addCentreVertex);
    $("btn-undo").addEventListener("click", undoVertex);
    $("btn-finish").addEventListener("click", finishDrawing);
    $("btn-cancel").addEventListener("click", cancelDrawing);
    $("btn-clear-scenario").addEventListener("click", clearScenario);
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && state.drawing) cancelDrawing();
    });
  }

  // ---------------------------------------------------------------- downloads
  function downloadGroup(d) {
    const name = (d.name || d.path || "").toLowerCase();
    const base = name.split("/").pop();
    const kind = (d.kind || d.type || "").toLowerCase();
    const nested = name.split("/").length > 2;  // report/maps/..., report/charts/...: parts of a report
    if (/qgis|pam|style|aux/.test(kind) || /\.(qml|aux\.xml|sld|json|svg)$/.test(name) || nested) return "other";
    if (/^(plan|actie|action)/.test(base) && !/\.png$/.test(base)) return "plan";
    if (/\.(pdf|html?)$/.test(name) || /report|rapport/.test(kind)) return "report";
    if (/png|map/.test(kind) || /\.png$/.test(name)) return "map";
    if (/\.(xlsx|csv)$/.test(name)) return "plan";
    if (/gpkg|geopackage/.test(kind) || /\.gpkg$/.test(name)) return "data";
    return "rasters";
  }

  function downloadHref(d) {
    if (d.url) return d.url;
    const name = d.name || d.path || String(d);
    return `/downloads/${name.split("/").map(encodeURIComponent).join("/")}`;
  }

  async function loadDownloads() {
    const box = $("downloads-list");
    state.downloads = state.downloads || [];
    box.replaceChildren(el("p", {}, el("span", { class: "spinner", "aria-hidden": "true" }), t("busy")));
    let list;
    try {
      list = await api(withLang("/api/downloads"));
    } catch (e) {
      box.replaceChildren(el("p", { class: "msg-err", text: t("error.generic", { msg: e.message }) }));
      return;
    }
    list = Array.isArray(list) ? list : (list?.files || []);
    state.downloads = list.map((d) => (typeof d === "string" ? { name: d } : d));
    box.replaceChildren();
    if (!state.downloads.length) { box.append(el("p", { class: "muted", text: t("downloads.none") })); return; }
    const groups = { report: [], plan: [], data: [], map: [], rasters: [], other: [] };
    for (const d of state.downloads) groups[downloadGroup(d)].push(d);
    // the user's language first
    const mine = (d) => Number(new RegExp(`_${state.lang}\\.`).test(d.name || ""));
    for (const g of Object.keys(groups)) groups[g].sort((a, b) => mine(b) - mine(a));
    for (const [g, items] of Object.entries(groups)) {
      if (!items.length) continue;
      const ul = el("ul", { class: "dl-list" });
      for (const d of items) {
        const name = d.name || d.path || "";
        const base = name.split("/").pop();
        const desc = d.title || d.label || d.description || "";
        ul.append(el("li", { "data-group": g },
          el("div", {}, /\.html?$/i.test(base)
            ? el("a", { href: downloadHref(d), target: "_blank", rel: "noopener", text: base, title: name })
            : el("a", { href: downloadHref(d), download: base, text: base, title: name }),
            desc ? el("p", { class: "dl-desc", text: desc }) : null),
          el("span", { class: "size", text: [base.includes(".") ? base.split(".").pop().toUpperCase() : "", fmtBytes(d.bytes ?? d.size)].filter(Boolean).join(" · ") })));
      }
      const head = t(`downloads.group.${g}`);
      if (g === "other" || g === "rasters" || (g === "map" && items.length > 8) || items.length > 20) {
        box.append(el("details", { class: "dl-group" }, el("summary", {}, el("h3", { text: `${head} (${items.length})` })), ul));
      } else {
        box.append(el("div", { class: "dl-group" }, el("h3", { text: head }), ul));
      }
    }
  }

  // ---------------------------------------------------------------- explanations
  function sourcesList(sources) {
    if (!Array.isArray(sources) || !sources.length) return null;
    return el("ul", { class: "sources" }, ...sources.map((s) => {
      if (typeof s === "string") return el("li", { text: s });
      const bits = [];
      if (s.licence) bits.push(`${t("source.licence")} ${s.licence}`);
      if (s.date) bits.push(`${t("source.date")} ${s.date}`);
      return el("li", {}, s.url ? el("a", { href: s.url, rel: "noopener", target: "_blank", text: s.name || s.url }) : (s.name || ""),
        bits.length ? ` (${bits.join(", ")})` : "");
    }));
  }

  function showExplain(target) {
    state.explainTarget = target;
    renderExplain();
    selectTab("explain");
    $("explain-body").querySelector("h3")?.focus();
  }

  function renderExplain() {
    const box = $("explain-body");
    const tg = state.explainTarget;
    if (!tg) { box.replaceChildren(el("p", { class: "muted", text: t("explain.intro") })); return; }
    const wrap = el("div", { class: "explain" });
    if (tg.type === "objects") {
      const ls = OBJECT_LIST.map((n) => state.layerById.get(n)).filter(Boolean);
      if (!ls.length) { box.replaceChildren(); return; }
      wrap.append(el("h3", { tabindex: "-1", text: t("objects.heading") }));
      for (const l of ls) {
        const ex = l.explain || {};
        wrap.append(el("h4", { text: l.title || l.id }));
        for (const k of ["what", "how", "certainty", "action"]) {
          if (ex[k]) wrap.append(el("p", {}, el("strong", { text: `${t(`explain.${k}`)} ` }), ex[k]));
        }
      }
      const src = sourcesList(ls[0].sources);
      if (src) wrap.append(el("h4", { text: t("explain.sources") }), src);
    } else if (tg.type === "layer") {
      const l = state.layerById.get(tg.id);
      if (!l) { box.replaceChildren(); return; }
      const ex = l.explain || {};
      wrap.append(el("h3", { tabindex: "-1", text: l.title || l.id }));
      if (typeof ex === "string") wrap.append(el("p", { text: ex }));
      for (const k of ["what", "how", "certainty", "action"]) {
        if (ex[k]) wrap.append(el("h4", { text: t(`explain.${k}`) }), el("p", { text: ex[k] }));
      }
      if (l.unit) wrap.append(el("p", { class: "small muted", text: `${t("explain.unit")}: ${l.unit}` }));
      const src = sourcesList(l.sources);
      if (src) wrap.append(el("h4", { text: t("explain.sources") }), src);
    } else {
      const m = state.measureById.get(tg.id);
      if (!m) { box.replaceChildren(); return; }
      wrap.append(el("h3", { tabindex: "-1", text: measureName(m) }));
      wrap.append(...measureDetails(m));
    }
    wrap.append(el("p", {}, el("button", { type: "button", class: "btn", text: t("explain.back"), onclick: () => selectTab("layers", { focus: true }) })));
    box.replaceChildren(wrap);
  }

  function measureDetails(m) {
    const out = [];
    const ex = m.explain;
    if (ex && typeof ex === "object") {
      for (const k of ["what", "how", "certainty", "action"]) if (ex[k]) out.push(el("h4", { text: t(`explain.${k}`) }), el("p", { text: ex[k] }));
    } else if (measureExplain(m)) out.push(el("p", { text: measureExplain(m) }));
    const kv = el("dl", { class: "kv" });
    const val = (x) => (x && typeof x === "object" ? x.value : x);
    if (m.unit) kv.append(el("dt", { text: t("explain.unit") }), el("dd", { text: m.unit }));
    const capex = val(m.capex_eur);
    const opex = val(m.opex_eur_yr);
    if (capex !== undefined && capex !== null) kv.append(el("dt", { text: t("explain.capex") }), el("dd", { text: `${fmtEur(capex)}${m.unit ? ` / ${m.unit}` : ""}` }));
    if (opex !== undefined && opex !== null) kv.append(el("dt", { text: t("explain.opex") }), el("dd", { text: `${fmtEur(opex)}${m.unit ? ` / ${m.unit}` : ""}` }));
    if (kv.childNodes.length) out.push(kv);
    const src = sourcesList(m.sources);
    if (src) out.push(el("h4", { text: t("explain.sources") }), src);
    return out;
  }

  function renderMeasureList() {
    const box = $("measure-list");
    box.replaceChildren(...state.measures.map((m) => el("details", { "data-measure": m.id },
      el("summary", { text: measureName(m) }), ...measureDetails(m))));
  }

  // ---------------------------------------------------------------- editors: login (docs/web.md, "For editors")
  const AUTH_KEY = "biostress.auth";  // sessionStorage: forgotten when the browser tab closes

  /** Can editors log in here? Only a server that keeps uploads or plans (started with a data folder). */
  function serverWritable() {
    const w = state.info?.writable || {};
    return Boolean(w.uploads || w.plans);
  }

  const isEditor = () => Boolean(state.auth && state.auth.editor);

  function fmtDate(s) {
    if (!s) return "";
    const d = typeof s === "number" ? new Date(s * 1000) : new Date(s);
    if (Number.isNaN(d.getTime())) return String(s);
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(d);
  }

  function storeAuth(a) {
    try {
      if (a) window.sessionStorage.setItem(AUTH_KEY, JSON.stringify(a));
      else window.sessionStorage.removeItem(AUTH_KEY);
    } catch (e) { /* storage blocked: the login lasts as long as the page */ }
  }

  /** At start: a token kept in this tab is checked with the server (GET /api/auth/me). */
  async function restoreAuth() {
    let a = null;
    try { a = JSON.parse(window.sessionStorage.getItem(AUTH_KEY) || "null"); } catch (e) { a = null; }
    if (!a || !a.token || !serverWritable() || (a.expires && a.expires * 1000 <= Date.now())) {
      storeAuth(null);
      return;
    }
    state.auth = a;
    try {
      const me = await api("/api/auth/me", { auth: true });
      state.auth = { ...a, user: me.user, municipality: me.municipality, editor: Boolean(me.editor) };
      storeAuth(state.auth);
    } catch (e) {
      if (e.status !== 401) state.auth = null;  // 401: sessionExpired() has already logged out
      storeAuth(state.auth);
    }
  }

  /** Header (log-in button, who is logged in, read-only note) and the editor tab, as the login says. */
  function renderAuth() {
    const writable = serverWritable();
    const a = state.auth;
    $("readonly-note").hidden = !state.info || writable;
    $("btn-login").hidden = !writable || Boolean(a);
    $("user-box").hidden = !a;
    $("user-name").textContent = a ? t("auth.as", { user: a.user }) : "";
    $("tab-editor").hidden = !a;
    if (document.body.classList.contains("is-editor") !== Boolean(a)) {
      document.body.classList.toggle("is-editor", Boolean(a));
      state.map?.resize();  // the side panel is wider for editors
    }
    if (a) {
      $("editor-who").textContent = t("editor.who", { user: a.user, mun: a.municipality, until: fmtDate(a.expires) });
      const other = !a.editor;
      $("editor-warning").hidden = !other;
      $("editor-warning").textContent = other ? t("auth.other", { mun: a.municipality, code: state.info?.code || "–" }) : "";
      $("editor-sections").hidden = other;
      renderFileName();
    }
    if (!a && !$("panel-editor").hidden) selectTab("layers");
    renderPlanSave();
  }

  function openLogin() {
    const dlg = $("login-dialog");
    $("login-error").hidden = true;
    $("login-error").textContent = "";
    $("login-password").value = "";
    if (typeof dlg.showModal === "function") dlg.showModal(); else dlg.setAttribute("open", "");
    ($("login-user").value ? $("login-password") : $("login-user")).focus();
  }

  function closeLogin() {
    const dlg = $("login-dialog");
    if (dlg.open) { if (typeof dlg.close === "function") dlg.close(); else dlg.removeAttribute("open"); }
  }

  function loginError(msg) {
    const box = $("login-error");
    box.textContent = msg;
    box.hidden = false;
  }

  async function submitLogin(e) {
    e.preventDefault();
    const user = $("login-user").value.trim();
    const password = $("login-password").value;
    if (!user || !password) { loginError(t("auth.missing")); (user ? $("login-password") : $("login-user")).focus(); return; }
    const btn = $("login-submit");
    btn.disabled = true;
    $("login-error").hidden = true;
    announce(t("auth.busy"));
    try {
      const res = await api("/api/auth/login", { method: "POST", body: { user, password } });
      state.auth = { token: res.token, expires: res.expires, user: res.user, municipality: res.municipality,
        editor: Boolean(res.editor) };
      storeAuth(state.auth);
      $("login-password").value = "";
      closeLogin();
      renderAuth();
      state.uploads = null;
      state.proposalsAll = null;
      selectTab("editor", { focus: true });
      announce(t("auth.loggedin", { user: res.user, mun: res.municipality }));
    } catch (err) {
      const msg = err.status === 401 ? t("auth.error.401") : err.status === 429 ? t("auth.error.429")
        : t("auth.error", { msg: err.message });
      loginError(msg);
      $("login-password").select();
      $("login-password").focus();
    } finally {
      btn.disabled = false;
    }
  }

  function logout({ expired = false } = {}) {
    const was = Boolean(state.auth);
    state.auth = null;
    state.uploads = null;
    state.rejectedUploads = [];
    state.proposalsAll = null;
    storeAuth(null);
    $("upload-list").replaceChildren();
    $("moderation-list").replaceChildren();
    $("upload-msg").textContent = "";
    renderAuth();
    if (!was) return;
    if (expired) toast(t("auth.expired"));
    announce(expired ? t("auth.expired") : t("auth.loggedout"));
    if (!$("btn-login").hidden) $("btn-login").focus();
  }

  /** A call with the token was answered 401: the token expired or its user was removed. */
  function sessionExpired() {
    if (state.auth) logout({ expired: true });
  }

  function setupAuth() {
    $("btn-login").addEventListener("click", openLogin);
    $("btn-logout").addEventListener("click", () => logout());
    $("login-form").addEventListener("submit", submitLogin);
    $("login-cancel").addEventListener("click", () => { closeLogin(); $("btn-login").focus(); });
    $("login-dialog").addEventListener("close", () => { if (!state.auth && !$("btn-login").hidden) $("btn-login").focus(); });
    $("upload-form").addEventListener("submit", submitUpload);
    $("upload-file").addEventListener("change", renderFileName);
    $("moderation-filter").addEventListener("change", (e) => { state.modFilter = e.target.value; renderModeration(); });
    $("moderation-refresh").addEventListener("click", () => loadModeration());
    $("export-csv").addEventListener("click", () => exportProposals("csv"));
    $("export-geojson").addEventListener("click", () => exportProposals("geojson"));
    $("editor-to-scenario").addEventListener("click", () => selectTab("scenario", { focus: true }));
    $("proposals-toggle").addEventListener("change", (e) => {
      state.proposalsShown = e.target.checked;
      if (state.map?.getLayer("proposals")) state.map.setLayoutProperty("proposals", "visibility", state.proposalsShown ? "visible" : "none");
    });
  }

  function refreshEditor() {
    if (!isEditor()) return;
    if (state.uploads === null) loadUploads();
    if (state.proposalsAll === null) loadModeration();
  }

  // ---------------------------------------------------------------- editors: uploads
  const UPLOAD_EXT = [".gpkg", ".geojson", ".json", ".fgb", ".parquet", ".geoparquet", ".csv", ".tif", ".tiff"];
  const FORMAT_NAMES = { gpkg: "GeoPackage", geojson: "GeoJSON", fgb: "FlatGeobuf", parquet: "GeoParquet", csv: "CSV",
    gtiff: "GeoTIFF" };

  function uploadMsg(text, cls = "") {
    const p = $("upload-msg");
    p.className = cls;
    p.textContent = text;
  }

  /** The chosen file's name and size next to the "choose a file" button. */
  function renderFileName() {
    const f = $("upload-file").files?.[0];
    const span = $("upload-file-name");
    span.textContent = f ? `${f.name} (${fmtBytes(f.size)})` : t("uploads.nochoice");
    span.classList.toggle("none", !f);
  }

  /** "7 features (Point)" or "3 bands". */
  function uploadContent(u) {
    if (u.bands !== undefined && u.bands !== null) return u.bands === 1 ? t("uploads.band") : t("uploads.bands", { n: u.bands });
    if (u.features === undefined || u.features === null) return "";
    const n = u.features === 1 ? t("uploads.feature") : t("uploads.features", { n: fmtNum(u.features, 0) });
    const types = Array.isArray(u.geometry_types) && u.geometry_types.length ? ` (${u.geometry_types.join(", ")})` : "";
    return n + types;
  }

  async function loadUploads() {
    if (!isEditor()) return;
    if (!state.info?.writable?.uploads) {
      $("upload-form").hidden = true;
      $("upload-list").replaceChildren(el("li", { class: "muted", text: t("uploads.unavailable") }));
      return;
    }
    try {
      state.uploads = await api("/api/uploads", { auth: true });
    } catch (e) {
      if (state.auth) $("upload-list").replaceChildren(el("li", { class: "msg-err", text: t("error.generic", { msg: e.message }) }));
      return;
    }
    renderUploads();
  }

  function renderUploads() {
    const ul = $("upload-list");
    if (!Array.isArray(state.uploads)) return;
    const rows = [...state.rejectedUploads, ...state.uploads.slice().sort((a, b) => String(b.uploaded).localeCompare(String(a.uploaded)))];
    ul.replaceChildren();
    if (!rows.length) { ul.append(el("li", { class: "muted", text: t("uploads.none") })); return; }
    for (const u of rows) {
      if (u.rejected) {
        ul.append(el("li", { class: "upload rejected", "data-name": u.name },
          el("div", { class: "upload-head" }, el("span", { class: "upload-name", text: u.name }),
            el("span", { class: "badge status-rejected", text: t("uploads.status.rejected") })),
          el("p", { class: "upload-error", text: u.error }),
          el("p", { class: "small muted", text: fmtDate(u.at) })));
        continue;
      }
      const bits = [FORMAT_NAMES[u.format] || u.format, uploadContent(u), u.crs || t("uploads.nocrs"), fmtBytes(u.bytes)]
        .filter(Boolean);
      ul.append(el("li", { class: "upload", "data-name": u.name, "data-upload-id": u.id },
        el("div", { class: "upload-head" }, el("span", { class: "upload-name", text: u.name }),
          el("span", { class: "badge status-approved", text: t("uploads.status.ok") })),
        el("p", { class: "upload-checks" }, ...bits.flatMap((b, i) => [i ? " · " : "",
          el("span", { class: i === 1 ? "upload-content" : null, text: b })])),
        el("p", { class: "small muted", title: u.sha256 ? `SHA-256 ${u.sha256}` : null,
          text: t("by", { date: fmtDate(u.uploaded), user: u.uploaded_by || "?" }) })));
    }
  }

  /** POST the file as the raw body with XMLHttpRequest (fetch reports no upload progress). */
  function sendUpload(file, crs, onProgress) {
    return new Promise((resolve, reject) => {
      const q = new URLSearchParams({ name: file.name });
      if (crs) q.set("crs", crs);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `/api/uploads?${q}`);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.setRequestHeader("Authorization", `Bearer ${state.auth.token}`);
      xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
      xhr.upload.addEventListener("load", () => onProgress(1));
      xhr.addEventListener("load", () => {
        let data = null;
        try { data = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch (e) { data = xhr.responseText; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(data);
        else reject(new ApiError(errorText(data, xhr.status, xhr.statusText), xhr.status));
      });
      xhr.addEventListener("error", () => reject(new ApiError(t("error.network"), 0)));
      xhr.send(file);
    });
  }

  async function submitUpload(e) {
    e.preventDefault();
    if (!isEditor()) return;
    const input = $("upload-file");
    const file = input.files && input.files[0];
    if (!file) { uploadMsg(t("uploads.nofile"), "msg-err"); input.focus(); return; }
    const ext = (file.name.match(/\.[^.]+$/) || [""])[0].toLowerCase();
    if (!UPLOAD_EXT.includes(ext)) { uploadMsg(t("uploads.badext", { ext: ext || "?" }), "msg-err"); input.focus(); return; }
    let crs = $("upload-crs").value.trim().toUpperCase().replace(/\s+/g, "");
    if (/^\d{4,6}$/.test(crs)) crs = `EPSG:${crs}`;
    if (crs && !/^EPSG:\d{4,6}$/.test(crs)) { uploadMsg(t("uploads.badcrs"), "msg-err"); $("upload-crs").focus(); return; }
    const bar = $("upload-progress");
    const btn = $("upload-submit");
    btn.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    uploadMsg(t("uploads.sending", { name: file.name, pct: 0 }));
    let checking = false;
    try {
      const res = await sendUpload(file, crs, (f) => {
        bar.value = Math.round(100 * f);
        if (f >= 1 && !checking) { checking = true; uploadMsg(t("uploads.checking", { name: file.name })); }
        else if (!checking) uploadMsg(t("uploads.sending", { name: file.name, pct: Math.round(100 * f) }));
      });
      const what = [uploadContent(res), res.crs || t("uploads.nocrs")].filter(Boolean).join(", ");
      uploadMsg(t("uploads.ok", { name: file.name, what }), "msg-ok");
      announce(t("uploads.ok", { name: file.name, what }));
      input.value = "";
      renderFileName();
      await loadUploads();
    } catch (err) {
      if (err.status === 401) { sessionExpired(); return; }
      uploadMsg(t("uploads.rejected", { name: file.name, msg: err.message }), "msg-err");
      state.rejectedUploads.unshift({ rejected: true, name: file.name, error: err.message, at: new Date().toISOString() });
      renderUploads();
    } finally {
      btn.disabled = false;
      bar.hidden = true;
    }
  }

  // ---------------------------------------------------------------- editors: moderation of proposals
  const STATUSES = ["pending", "approved", "rejected"];

  function proposalTitle(p) {
    const kind = t(`proposals.kind.${p.kind}`);
    const what = p.kind === "measure" ? (measureName(state.measureById.get(p.measure)) || p.measure) : p.species;
    return what ? `${kind}: ${what}` : kind;
  }

  async function loadModeration() {
    if (!isEditor()) return;
    $("moderation-msg").textContent = "";
    try {
      state.proposalsAll = await api("/api/proposals?all=1", { auth: true });
    } catch (e) {
      if (state.auth) $("moderation-msg").replaceChildren(el("span", { class: "msg-err", text: t("error.generic", { msg: e.message }) }));
      return;
    }
    renderModeration();
  }

  function renderModeration() {
    const all = Array.isArray(state.proposalsAll) ? state.proposalsAll : [];
    const sel = $("moderation-filter");
    const count = (st) => all.filter((p) => p.status === st).length;
    sel.replaceChildren(el("option", { value: "all", text: t("moderation.filter.all", { n: all.length }) }),
      ...STATUSES.map((st) => el("option", { value: st, text: t("moderation.filter.status", { status: t(`status.${st}`), n: count(st) }) })));
    sel.value = state.modFilter;
    const ul = $("moderation-list");
    if (!Array.isArray(state.proposalsAll)) { ul.replaceChildren(); return; }
    const rows = all.filter((p) => state.modFilter === "all" || p.status === state.modFilter)
      .sort((a, b) => Number(b.id) - Number(a.id));
    ul.replaceChildren();
    if (!rows.length) { ul.append(el("li", { class: "muted", text: t("moderation.none") })); return; }
    for (const p of rows) ul.append(moderationItem(p));
  }

  function moderationItem(p) {
    const actions = [["approved", "moderation.approve", "btn-primary"], ["rejected", "moderation.reject", ""],
      ["pending", "moderation.pending", ""]].filter(([st]) => st !== p.status);
    const meta = [`${t("proposals.number", { id: p.id })} · ${fmtDate(p.created)}`];
    if (p.moderated_by && p.status !== "pending") meta.push(t("moderation.reviewed", { user: p.moderated_by, date: fmtDate(p.moderated_at) }));
    return el("li", { class: "mod-item", "data-id": p.id, "data-status": p.status },
      el("div", { class: "mod-head" }, el("h4", { text: proposalTitle(p) }),
        el("span", { class: `badge status-${p.status}`, text: t(`status.${p.status}`) })),
      el("p", { class: "small muted", text: meta.join(" · ") }),
      el("p", { class: "mod-text", text: p.text }),
      p.contact ? el("p", { class: "small" }, el("span", { class: "muted", text: `${t("moderation.contact")}: ` }), p.contact) : null,
      el("div", { class: "btn-row" },
        ...actions.map(([st, key, cls]) => el("button", { type: "button", class: `btn ${cls}`.trim(), "data-action": st,
          text: t(key), "aria-label": t("moderation.action.label", { action: t(key), id: p.id }),
          onclick: (e) => moderate(p.id, st, e.currentTarget) })),
        el("button", { type: "button", class: "btn", "data-action": "show", text: t("moderation.show"),
          "aria-label": t("moderation.action.label", { action: t("moderation.show"), id: p.id }),
          onclick: () => showProposalOnMap(p, { withStatus: true }) })));
  }

  async function moderate(id, status, button) {
    if (button) button.disabled = true;
    try {
      const res = await api(`/api/proposals/${encodeURIComponent(id)}/moderate`, { method: "POST", auth: true, body: { status } });
      const p = (state.proposalsAll || []).find((x) => Number(x.id) === Number(id));
      if (p) { p.status = res.status; p.moderated_by = state.auth?.user; p.moderated_at = new Date().toISOString(); }
      const msg = t("moderation.done", { id, status: t(`status.${res.status}`) });
      $("moderation-msg").replaceChildren(el("span", { class: "msg-ok", text: msg }));
      announce(msg);
      renderModeration();
      loadPublicProposals();
      $("moderation-list").querySelector(`[data-id="${Number(id)}"] button`)?.focus();
    } catch (e) {
      if (button) button.disabled = false;
      if (state.auth) $("moderation-msg").replaceChildren(el("span", { class: "msg-err", text: t("error.generic", { msg: e.message }) }));
    }
  }

  /** The exports need the token: fetch them with it and save the answer as a file. */
  async function exportProposals(fmt) {
    if (!isEditor()) return;
    const file = `proposals.${fmt}`;
    try {
      let res;
      try {
        res = await fetch(`/api/${file}`, { headers: { Authorization: `Bearer ${state.auth.token}` } });
      } catch (e) {
        throw new ApiError(t("error.network"), 0);
      }
      if (!res.ok) {
        let data = null;
        try { data = await res.json(); } catch (e) { data = null; }
        if (res.status === 401) sessionExpired();
        throw new ApiError(errorText(data, res.status, res.statusText), res.status);
      }
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const a = el("a", { href: url, download: file, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 60000);
      $("moderation-msg").replaceChildren(el("span", { class: "msg-ok", text: t("moderation.export.done", { file }) }));
    } catch (e) {
      if (state.auth) $("moderation-msg").replaceChildren(el("span", { class: "msg-err", text: t("error.generic", { msg: e.message }) }));
    }
  }

  // ---------------------------------------------------------------- approved proposals: a public map layer
  const PROPOSAL_COLOUR = "#6a1b9a";

  function proposalsFC() {
    return { type: "FeatureCollection", features: state.proposalsPublic.map((p) => ({ type: "Feature", id: Number(p.id),
      geometry: { type: "Point", coordinates: [Number(p.lon), Number(p.lat)] }, properties: { id: Number(p.id), kind: p.kind } })) };
  }

  function addProposalsLayer() {
    const map = state.map;
    map.addSource("proposals", { type: "geojson", data: proposalsFC() });
    map.addLayer({ id: "proposals", type: "circle", source: "proposals",
      layout: { visibility: state.proposalsShown ? "visible" : "none" },
      paint: {
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 11, 4.5, 16, 8],
        "circle-color": ["match", ["get", "kind"], "observation", "#ffffff", PROPOSAL_COLOUR],
        "circle-stroke-color": ["match", ["get", "kind"], "observation", PROPOSAL_COLOUR, "#ffffff"],
        "circle-stroke-width": ["match", ["get", "kind"], "observation", 3.5, 2],
      } });
  }

  async function loadPublicProposals() {
    let list;
    try {
      list = await api("/api/proposals");
    } catch (e) {
      return;  // the map works without them
    }
    state.proposalsPublic = Array.isArray(list) ? list : [];
    state.map?.getSource("proposals")?.setData(proposalsFC());
    renderPublicProposals();
  }

  function renderPublicProposals() {
    const list = state.proposalsPublic;
    $("legend-proposals").hidden = !list.length;
    $("public-proposals").hidden = !list.length;
    $("public-proposals-count").textContent = String(list.length);
    $("public-proposals-list").replaceChildren(...list.slice().sort((a, b) => Number(b.id) - Number(a.id)).map((p) =>
      el("li", { class: "mod-item", "data-id": p.id },
        el("h4", { text: proposalTitle(p) }),
        el("p", { class: "small muted", text: `${t("proposals.number", { id: p.id })} · ${fmtDate(p.created)}` }),
        el("p", { class: "mod-text", text: p.text }),
        el("button", { type: "button", class: "btn", text: t("moderation.show"),
          "aria-label": t("moderation.action.label", { action: t("moderation.show"), id: p.id }),
          onclick: () => showProposalOnMap(p) }))));
  }

  function proposalAt(point) {
    const map = state.map;
    if (!map?.getLayer("proposals") || !state.proposalsShown) return null;
    const f = map.queryRenderedFeatures([[point.x - 6, point.y - 6], [point.x + 6, point.y + 6]], { layers: ["proposals"] })[0];
    if (!f) return null;
    return state.proposalsPublic.find((p) => Number(p.id) === Number(f.properties.id)) || null;
  }

  function proposalPopup(p, { withStatus = false } = {}) {
    if (!state.map) return;
    if (state.popup) state.popup.remove();
    const body = el("div", { class: "proposal-popup", "data-proposal": p.id },
      el("h3", { text: proposalTitle(p) }),
      el("p", { class: "lvl", text: `${t("proposals.number", { id: p.id })} · ${fmtDate(p.created)}` }),
      withStatus && p.status ? el("p", {}, el("span", { class: `badge status-${p.status}`, text: t(`status.${p.status}`) })) : null,
      el("p", { class: "mod-text", text: p.text }));
    state.popup = new maplibregl.Popup({ closeButton: true, maxWidth: "300px", focusAfterOpen: false })
      .setLngLat([Number(p.lon), Number(p.lat)]).setDOMContent(body).addTo(state.map);
  }

  function showProposalOnMap(p, opts = {}) {
    if (!state.map) { toast(t("map.nowebgl")); return; }
    state.map.jumpTo({ center: [Number(p.lon), Number(p.lat)], zoom: Math.max(state.map.getZoom(), 16) });
    proposalPopup(p, opts);
    announce(proposalTitle(p));
  }

  // ---------------------------------------------------------------- saved plans
  async function loadPlans() {
    state.plans = state.plans || [];
    try {
      const list = await api("/api/plans");
      state.plans = Array.isArray(list) ? list : [];
    } catch (e) {
      $("plan-list").replaceChildren(el("p", { class: "msg-err", text: t("error.generic", { msg: e.message }) }));
      return;
    }
    renderPlans();
  }

  function renderPlans() {
    const box = $("plan-list");
    if (!Array.isArray(state.plans)) return;
    if (!state.plans.length) { box.replaceChildren(el("p", { class: "muted small", text: t("plans.none") })); return; }
    const rows = state.plans.slice().sort((a, b) => String(b.created).localeCompare(String(a.created)));
    box.replaceChildren(el("ul", { class: "dl-list" }, ...rows.map((p) => el("li", { "data-plan": p.id },
      el("div", {}, el("strong", { text: p.name }), el("p", { class: "dl-desc", text: t("by", { date: fmtDate(p.created), user: p.author || "?" }) })),
      el("button", { type: "button", class: "btn", text: t("plans.open"), "aria-label": t("plans.open.label", { name: p.name }),
        onclick: () => openPlan(p.id) })))));
  }

  /** The form "save this scenario as a plan", for editors under a computed scenario. */
  function renderPlanSave() {
    const box = $("plan-save");
    const s = state.scenario;
    const show = Boolean(s && !s.saved && isEditor() && state.info?.writable?.plans);
    box.hidden = !show;
    if (!show) { box.replaceChildren(); return; }
    if (box.dataset.for === s.id && box.childElementCount) return;  // keep what the editor typed
    box.dataset.for = s.id || "";
    const name = el("input", { type: "text", id: "plan-name", maxlength: "200", autocomplete: "off" });
    const msg = el("p", { id: "plan-msg", role: "status" });
    const form = el("form", { novalidate: true },
      el("h3", { text: t("plans.save.heading") }),
      el("div", { class: "field" }, el("label", { for: "plan-name", text: t("plans.name") }), name),
      el("button", { type: "submit", class: "btn btn-primary", id: "plan-save-btn", text: t("plans.save") }), msg);
    form.addEventListener("submit", (e) => { e.preventDefault(); savePlan(name, msg, e.submitter || $("plan-save-btn")); });
    box.replaceChildren(form);
  }

  async function savePlan(input, msg, btn) {
    const s = state.scenario;
    const name = input.value.trim();
    msg.className = "msg-err";
    if (!name) { msg.textContent = t("plans.name.missing"); input.focus(); return; }
    if (!s) return;
    const m = state.measureById.get(s.measure);
    const body = { name, kind: "scenario", measure: s.measure, measure_name: measureName(m) || s.measure, part: s.part ?? 1,
      polygon: s.polygon, lang: state.lang,
      result: { totals: s.totals, cost: s.cost, landcover: s.landcover, notes: s.notes, units: s.units,
        window_bounds_wgs84: s.window_bounds_wgs84 } };
    if (JSON.stringify(body).length > 1900000) delete body.result.units;  // the server takes up to 2 MB
    btn.disabled = true;
    try {
      const res = await api("/api/plans", { method: "POST", auth: true, body });
      msg.className = "msg-ok";
      msg.textContent = t("plans.saved", { name: res.name });
      announce(t("plans.saved", { name: res.name }));
      input.value = "";
      await loadPlans();
    } catch (e) {
      if (!state.auth) return;
      msg.className = "msg-err";
      msg.textContent = t("error.generic", { msg: e.message });
    } finally {
      btn.disabled = false;
    }
  }

  async function openPlan(id) {
    let rec;
    try {
      rec = await api(`/api/plans/${encodeURIComponent(id)}`);
    } catch (e) {
      toast(t("error.generic", { msg: e.message }));
      return;
    }
    const plan = rec?.plan || {};
    const ring = plan.polygon?.coordinates?.[0];
    cancelDrawing();
    removeScenarioLayer();
    state.scenario = { ...(plan.result || {}), measure: plan.measure, polygon: plan.polygon, part: plan.part,
      saved: { id: rec.id, name: rec.name, author: rec.author, created: rec.created } };
    state.scenarioLayer = null;
    state.vertices = Array.isArray(ring) ? ring.slice(0, -1) : [];
    renderDraw();
    renderScenarioResult();
    $("btn-clear-scenario").hidden = false;
    selectTab("scenario");
    if (state.vertices.length) fitPolygon(state.vertices);
    if (plan.measure && state.measureById.has(plan.measure)) $("scenario-measure").value = plan.measure;
    $("scenario-result").querySelector("h3")?.focus();
    announce(t("plans.loaded", { name: rec.name }));
  }

  function savedPlanBanner(s) {
    const sv = s.saved;
    const canRerun = s.measure && s.polygon?.coordinates;
    return el("div", { class: "plan-banner" },
      el("h3", { tabindex: "-1", text: t("plans.shown", { name: sv.name }) }),
      el("p", { class: "small muted", text: t("plans.saved.note", { date: fmtDate(sv.created), user: sv.author || "?" }) }),
      canRerun ? el("button", { type: "button", class: "btn", id: "plan-rerun", text: t("plans.rerun"),
        onclick: () => computeScenario(s.measure, s.polygon) }) : null);
  }

  // ---------------------------------------------------------------- start
  async function init() {
    state.lang = initialLang();
    try { state.cb = window.localStorage.getItem("biostress.cb") === "1"; } catch (e) { /* ignore */ }
    $("cb-toggle").checked = state.cb;
    applyStatic();
    setupTabs();
    setupSearch();
    setupLayerControls();
    setupScenarioControls();
    setupAuth();
    $("btn-lang").addEventListener("click", switchLang);
    try {
      state.info = await api("/api/info");
    } catch (e) {
      toast(t("error.generic", { msg: e.message }));
      return;
    }
    $("area-name").textContent = state.info.name || "";
    $("objects-box").hidden = !OBJECT_ORDER.some((n) => objectInfo(n));
    $("objects-toggle-row").hidden = !MANAGED.some((n) => objectInfo(n));
    applyStatic();
    await restoreAuth();
    await loadLangData();
    createMap();
    loadPublicProposals();
    document.body.dataset.ready = "1";
  }

  // for the browser tests and the curious: read-only access to the state
  /** Fit the map to the whole area (as at the start). */
  function fitArea() {
    if (state.map && state.info) state.map.fitBounds(state.info.bounds_wgs84, { padding: fitPadding(), duration: 0 });
  }

  window.biostress = { state, t, setActiveLayer, loadPlot, renderPlot, expandCard, selectTab, clearScenario, cancelDrawing, fitArea,
    loadPublicProposals, loadModeration, loadPlans, openPlan, logout, setObjectsShown };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
