// The map view (#/map): offline basemap, the mechanism's notifications and conflicts, a time
// filter, the list of every item in text, the detail panel, and notifying from the map.

import { conflictDetail, notificationDetail } from "./detail.js";
import { el, replace } from "./dom.js";
import { createDrawing } from "./draw.js";
import { readGeoJSONFile } from "./geojson_import.js";
import { createItemList } from "./item_list.js";
import { areaLayer, tooltipContent } from "./map_layers.js";
import { createNotifyForm } from "./notify_form.js";
import { activeAt, createPicture } from "./picture.js";
import { altitudeText, conflictStyle, installHatch, KINDS, legend, notificationStyle } from "./style.js";
import { createTimeControl } from "./time_control.js";
import { span } from "./time.js";

const L = window.L;
let basemap = null; // the countries file, fetched once per page

async function loadBasemap() {
  basemap = basemap || fetch("/console/data/countries.geojson").then((r) => {
    if (!r.ok) throw new Error(`the basemap answered ${r.status}`);
    return r.json();
  });
  return basemap;
}

export function mount(root, app) {
  const party = app.me.role === "party";
  const mapNode = el("div", { class: "map", role: "region", "aria-label": "Map of notifications and conflicts" });
  const panel = el("aside", { class: "panel", "aria-label": "Details", hidden: true });
  const announce = el("p", { class: "sr-status", role: "status", "aria-live": "polite" });
  const dropHint = el("div", { class: "drop-hint", hidden: true }, "Drop a GeoJSON file to notify it");
  const side = el("aside", { class: "map-side", "aria-label": "Map tools and items" });
  replace(root, el("div", { class: "map-view" }, side, el("div", { class: "map-area" }, mapNode, dropHint, panel)), announce);

  if (!app.mechanismId) {
    replace(side, el("p", {}, "This token is not a member of any mechanism yet."));
    return undefined;
  }

  // One SVG renderer for every layer, added at once so that the hatching can go into it.
  const renderer = L.svg({ padding: 0.5 });
  const map = L.map(mapNode, { renderer, worldCopyJump: true });
  const itemsLayer = L.featureGroup().addTo(map);
  const layersById = new Map();
  let selectedId = app.params?.get("select") || null;
  let panelMode = null; // "detail" | "form"
  let form = null;
  // False once the view is left: answers that arrive later must not touch the removed map.
  let mounted = true;

  // The offline basemap lies in its own pane above online tiles (if any) and below everything.
  map.createPane("basemap").style.zIndex = 250;
  map.attributionControl.addAttribution("Borders: Natural Earth (public domain)");
  const basemapStyle = { color: "#6b6b6b", weight: 1, fillColor: "#f2efe6", fillOpacity: 1 };
  const countries = L.geoJSON(null, { pane: "basemap", pmIgnore: true, interactive: false, style: () => basemapStyle }).addTo(map);
  loadBasemap().then((data) => {
    if (mounted) countries.addData(data);
  }).catch(() => {
    basemap = null; // try again on the next visit
    if (mounted) map.attributionControl.addAttribution("Borders could not be loaded");
  });
  app.api.get("/console/config.json").then((config) => {
    if (!mounted || !config.tile_url) return;
    // Over online tiles the borders stay as lines only.
    basemapStyle.fillOpacity = 0;
    countries.setStyle(basemapStyle);
    L.tileLayer(config.tile_url, { maxZoom: 18, attribution: "Map tiles: the deployment's tile provider" }).addTo(map);
  }).catch(() => {});

  const mechanism = app.mechanisms.find((m) => m.id === app.mechanismId);
  if (mechanism?.area) map.fitBounds(L.geoJSON(mechanism.area).getBounds());
  else map.setView([30, 20], 3);
  // A renderer's <svg> exists only once the map has a view.
  renderer.addTo(map);
  installHatch(renderer);

  const picture = createPicture(app, render);
  const time = createTimeControl({ onChange: render, extent: () => picture });
  const list = createItemList({ onSelect: (id) => select(id, { fly: true }) });
  const drawing = party ? createDrawing(map, (area) => form?.areaChanged(area)) : null;

  function visible(item) {
    const t = time.value();
    return t === null || activeAt(item, t);
  }

  function tooltip(item, part) {
    if (item.type === "conflict") {
      const who = item.other ? item.other.code : "";
      return tooltipContent([`Conflict${who ? ` with ${who}` : ""} (${item.state})`, part.side === "own" ? "your side" : `${who || part.side}'s side`, altitudeText(part.altitude), span(part.start, part.end)]);
    }
    return tooltipContent([item.title, `${item.own ? "yours" : item.party.code} · ${KINDS[item.kind]?.label || item.kind} · ${item.state}`, altitudeText(part.altitude), span(part.start, part.end)]);
  }

  function drawItem(item) {
    const selected = item.id === selectedId;
    const group = L.featureGroup();
    const parts = item.type === "notification" ? item.volumes.map((v) => ({ ...v, side: "own" })) : item.sides;
    for (const part of parts) {
      const options = item.type === "notification" ? notificationStyle(item, { selected }) : conflictStyle(item, part.side, { selected });
      const layer = areaLayer(part.area, options);
      layer.bindTooltip(tooltip(item, part), { sticky: true });
      // While a notification is being drawn or filled in, clicks belong to the drawing.
      layer.on("click", () => panelMode !== "form" && select(item.id));
      group.addLayer(layer);
    }
    group.addTo(itemsLayer);
    layersById.set(item.id, group);
  }

  function render() {
    itemsLayer.clearLayers();
    layersById.clear();
    const notifications = picture.notifications().filter(visible);
    const conflicts = picture.conflicts().filter(visible);
    // Conflicts last, so the overlaps lie on top of the notifications they belong to.
    for (const item of notifications) drawItem(item);
    for (const item of conflicts.filter((c) => c.state !== "open")) drawItem(item);
    for (const item of conflicts.filter((c) => c.state === "open")) drawItem(item);
    list.render({ notifications, conflicts, selectedId, error: picture.error() });
    // Refresh an open detail, unless someone is typing in it (a cancel reason).
    if (panelMode === "detail" && !panel.contains(document.activeElement?.closest("input"))) showDetail();
  }

  // Padding that keeps a fitted area clear of the detail panel over the map's right side.
  function clearOfPanel() {
    const covered = panel.hidden || window.matchMedia("(max-width: 900px)").matches ? 0 : panel.offsetWidth;
    return { paddingTopLeft: [40, 40], paddingBottomRight: [40 + covered, 40] };
  }

  function select(id, { fly = false } = {}) {
    const item = picture.find(id);
    if (!item) {
      replace(announce, "That item is not visible to you (or not in this mechanism).");
      return;
    }
    selectedId = id;
    if (!visible(item)) time.clear();
    render();
    showDetail({ focus: true });
    const layer = layersById.get(id);
    if (fly && layer) map.flyToBounds(layer.getBounds(), { maxZoom: 11, ...clearOfPanel(), duration: 0.5 });
  }

  function openPanel(content, mode) {
    panelMode = mode;
    const closeButton = el("button", { type: "button", class: "panel-close", "aria-label": "Close panel", onclick: closePanel }, "×");
    replace(panel, closeButton, content);
    panel.hidden = false;
  }

  function closePanel() {
    if (panelMode === "form" && drawing) drawing.clear();
    panel.hidden = true;
    panelMode = null;
    form = null;
    replace(panel);
  }

  function showDetail({ focus = false } = {}) {
    const item = selectedId && picture.find(selectedId);
    if (!item) return;
    const actions = {
      app,
      onSelect: (id) => select(id, { fly: true }),
      onRevise: (view) => openForm({ existing: view }),
      onCancelled: () => {
        replace(announce, "Notification cancelled.");
        picture.load();
      },
      onAcknowledged: () => picture.load(),
    };
    const content = item.type === "notification" ? notificationDetail(item, actions) : conflictDetail(item, actions);
    openPanel(content, "detail");
    if (focus) content.querySelector("h2")?.focus();
  }

  // Opens the notify (or revise) form on whatever the drawing holds; callers set the draft.
  function openForm({ existing = null, imported = null } = {}) {
    if (existing && existing.volumes.length === 1) drawing.setArea(existing.volumes[0].area);
    else if (existing) drawing.clear(false);
    form = createNotifyForm({
      app,
      mechanismId: app.mechanismId,
      drawing,
      existing,
      imported,
      onClose: closePanel,
      onDone: (view) => {
        if (!mounted) return;
        drawing.clear(false);
        form = null;
        const open = view.conflicts.filter((c) => c.state === "open").length;
        replace(announce, `${existing ? "Revised" : "Notified"}: ${view.title}. ${open ? `${open} conflict(s) found.` : "No conflict."}`);
        picture.mergeConflicts(view.conflicts);
        selectedId = view.id;
        picture.load().then(() => mounted && select(view.id, { fly: true }));
      },
    });
    openPanel(form.element, "form");
    form.focus();
  }

  function toolbar() {
    const draw = (shape, label) => el("button", { type: "button", onclick: () => {
      drawing.start(shape);
      openForm();
      replace(announce, `Drawing a ${shape}: ${shape === "circle" ? "press at the centre and drag to the radius" : "click each point, then click the first (or last) point again to finish"}.`);
    } }, label);
    const fileInput = el("input", { type: "file", id: "geojson-file", accept: ".geojson,.json,application/geo+json,application/json", class: "visually-hidden-file" });
    fileInput.addEventListener("change", () => {
      if (fileInput.files[0]) importFile(fileInput.files[0]);
      fileInput.value = "";
    });
    return el(
      "section",
      { class: "tools", "aria-labelledby": "tools-title" },
      el("h2", { id: "tools-title" }, "Notify"),
      el("div", { class: "button-row", role: "group", "aria-label": "Draw an area" },
        draw("polygon", "Draw polygon"), draw("circle", "Draw circle"), draw("corridor", "Draw corridor")),
      el("div", { class: "button-row" },
        el("button", { type: "button", onclick: () => {
          const c = map.getCenter();
          drawing.setArea({ type: "Circle", center: [Math.round(c.lng * 1e4) / 1e4, Math.round(c.lat * 1e4) / 1e4], radius: 5000 });
          openForm();
        } }, "Circle by coordinates"),
        fileInput, el("label", { for: "geojson-file", class: "button" }, "Import GeoJSON file")),
      el("p", { class: "hint" }, "Or drop a GeoJSON file onto the map."),
    );
  }

  async function importFile(file) {
    try {
      const imported = await readGeoJSONFile(file);
      if (!mounted) return;
      drawing.clear(false);
      openForm({ imported });
      replace(announce, `${file.name} read: check kind and title, then notify.`);
    } catch (error) {
      replace(announce, error.message);
      openPanel(el("div", { class: "detail" }, el("h2", {}, "Import refused"), el("p", { role: "alert" }, error.message)), "detail-error");
    }
  }

  if (party) {
    const area = root.querySelector(".map-area");
    let depth = 0;
    area.addEventListener("dragenter", (e) => { e.preventDefault(); depth += 1; dropHint.hidden = false; });
    area.addEventListener("dragover", (e) => e.preventDefault());
    area.addEventListener("dragleave", () => { depth -= 1; if (depth <= 0) { depth = 0; dropHint.hidden = true; } });
    area.addEventListener("drop", (e) => {
      e.preventDefault();
      depth = 0;
      dropHint.hidden = true;
      const file = e.dataTransfer?.files?.[0];
      if (file) importFile(file);
    });
  }

  replace(side, party ? toolbar() : el("p", { class: "hint" }, "Read-only: the operator sees every party's notifications; each view is logged."), time.element, list.element, legend({ operator: !party }));
  const onKey = (e) => {
    // Escape closes a detail; a half-filled form is closed only by its own Discard button.
    if (e.key === "Escape" && panelMode && panelMode !== "form") closePanel();
  };
  document.addEventListener("keydown", onKey);
  const resize = new ResizeObserver(() => map.invalidateSize());
  resize.observe(mapNode);
  picture.load().then(() => {
    if (!mounted) return;
    time.refreshRange();
    if (selectedId) select(selectedId, { fly: true });
    else if (itemsLayer.getLayers().length) map.fitBounds(itemsLayer.getBounds(), { maxZoom: 11, padding: [40, 40] });
  });

  return () => {
    mounted = false;
    picture.stop();
    time.stop();
    resize.disconnect();
    document.removeEventListener("keydown", onKey);
    map.remove();
  };
}
