// Drawing a new area on the map with Leaflet-Geoman — polygon, circle or corridor — and
// reading it back as the API's area ({type: Polygon|Circle|Corridor}).

import { CorridorBand } from "./map_layers.js";

const L = window.L;
const DRAFT = { color: "#000000", weight: 3, dashArray: "6 4", fillColor: "#000000", fillOpacity: 0.12 };
const SHAPES = { polygon: "Polygon", circle: "Circle", corridor: "Line" };
const round = (v) => Math.round(v * 1e6) / 1e6;
const lonLat = (ll) => [round(ll.lng), round(ll.lat)];

// createDrawing(map, onChange) → {start, area, setArea, setCircle, setHalfWidth, clear}.
// `onChange(area | null)` runs whenever the draft changes (drawn, edited, cleared).
export function createDrawing(map, onChange) {
  let layer = null;
  let band = null;
  let kind = null;
  let halfWidth = 1000;

  map.pm.setGlobalOptions({ pathOptions: DRAFT, templineStyle: DRAFT, hintlineStyle: { ...DRAFT, dashArray: "2 4" }, snappable: false });

  function area() {
    if (!layer) return null;
    if (kind === "circle") {
      return { type: "Circle", center: lonLat(layer.getLatLng()), radius: Math.round(layer.getRadius()) };
    }
    if (kind === "corridor") {
      return { type: "Corridor", line: { type: "LineString", coordinates: layer.getLatLngs().map(lonLat) }, half_width: halfWidth };
    }
    const rings = layer.getLatLngs().map((latlngs) => latlngs.map(lonLat));
    return { type: "Polygon", coordinates: rings.map((ring) => [...ring, ring[0]]) };
  }

  function changed() {
    if (band) band.setLatLngs(layer.getLatLngs());
    onChange(area());
  }

  function adopt(newLayer, newKind) {
    clear(false);
    layer = newLayer;
    kind = newKind;
    if (!layer._map) layer.addTo(map);
    if (kind === "corridor") {
      band = new CorridorBand(layer.getLatLngs(), halfWidth, { color: "#000000", opacity: 0.2, lineCap: "round", lineJoin: "round", interactive: false, pmIgnore: true }).addTo(map);
    }
    layer.pm.enable({ allowSelfIntersection: true });
    layer.on("pm:edit pm:markerdragend pm:vertexadded pm:vertexremoved", changed);
    changed();
  }

  function clear(notify = true) {
    if (map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
    if (layer) layer.remove();
    if (band) band.remove();
    layer = null;
    band = null;
    kind = null;
    if (notify) onChange(null);
  }

  map.on("pm:create", (event) => {
    const drawn = Object.entries(SHAPES).find(([, shape]) => shape === event.shape);
    if (drawn) adopt(event.layer, drawn[0]);
    else event.layer.remove();
  });

  return {
    // Starts drawing "polygon", "circle" or "corridor" with the pointer; the old draft goes.
    start(shape) {
      clear();
      map.pm.enableDraw(SHAPES[shape], { finishOn: shape === "circle" ? null : "dblclick" });
    },
    area,
    // A draft from an API area: to revise a notification, or a circle typed in by keyboard.
    setArea(value) {
      if (value.type === "Circle") {
        adopt(L.circle([value.center[1], value.center[0]], { ...DRAFT, radius: value.radius }), "circle");
      } else if (value.type === "Corridor") {
        halfWidth = value.half_width;
        adopt(L.polyline(value.line.coordinates.map(([x, y]) => [y, x]), DRAFT), "corridor");
      } else {
        adopt(L.polygon(value.coordinates.map((ring) => ring.slice(0, -1).map(([x, y]) => [y, x])), DRAFT), "polygon");
      }
    },
    // Moves or resizes a circle draft from the form's fields without redrawing it.
    setCircle(center, radius) {
      if (kind !== "circle") return;
      layer.setLatLng([center[1], center[0]]);
      layer.setRadius(radius);
      onChange(area());
    },
    setHalfWidth(value) {
      halfWidth = value;
      if (band) band.setHalfWidth(value);
      if (kind === "corridor") onChange(area());
    },
    clear,
  };
}
