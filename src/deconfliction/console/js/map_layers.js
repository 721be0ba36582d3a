// Leaflet layers for the API's areas: polygons, circles (metres), corridors (a line and a
// half-width in metres) and overlap geometries, each with a tooltip built from text nodes.

import { el } from "./dom.js";

const L = window.L;
const EARTH_CIRCUMFERENCE_M = 40075016.686;

// A corridor drawn exactly as Leaflet can: its centre line stroked, round-capped, as wide as
// the corridor at the current zoom (recomputed on zoom).
export const CorridorBand = L.Polyline.extend({
  initialize(latlngs, halfWidth, options) {
    L.Polyline.prototype.initialize.call(this, latlngs, options);
    this._halfWidth = halfWidth;
  },
  onAdd(map) {
    L.Polyline.prototype.onAdd.call(this, map);
    map.on("zoomend", this._fitWidth, this);
    this._fitWidth();
  },
  onRemove(map) {
    map.off("zoomend", this._fitWidth, this);
    L.Polyline.prototype.onRemove.call(this, map);
  },
  setHalfWidth(halfWidth) {
    this._halfWidth = halfWidth;
    if (this._map) this._fitWidth();
  },
  _fitWidth() {
    const latitude = this.getBounds().getCenter().lat;
    const metresPerPixel =
      (EARTH_CIRCUMFERENCE_M * Math.cos((latitude * Math.PI) / 180)) / 2 ** (this._map.getZoom() + 8);
    this.setStyle({ weight: Math.max(4, (2 * this._halfWidth) / metresPerPixel) });
  },
});

const toLatLng = ([lon, lat]) => [lat, lon];

// One layer for an area: {type: Polygon|Circle|Corridor} as the API writes it, or any GeoJSON
// geometry (an overlap). `options` are Leaflet path options.
export function areaLayer(area, options) {
  const common = { pmIgnore: true, ...options };
  if (area.type === "Circle") {
    return L.circle(toLatLng(area.center), { ...common, radius: area.radius });
  }
  if (area.type === "Corridor") {
    const line = area.line.coordinates.map(toLatLng);
    const band = new CorridorBand(line, area.half_width, {
      ...common,
      color: options.color,
      opacity: 0.3,
      dashArray: null,
      lineCap: "round",
      lineJoin: "round",
    });
    const centre = L.polyline(line, { ...common, fill: false, weight: Math.min(options.weight, 3) });
    return L.featureGroup([band, centre]);
  }
  return L.geoJSON(
    { type: "Feature", properties: {}, geometry: area },
    {
      pmIgnore: true,
      style: () => common,
      pointToLayer: (_, latlng) => L.circleMarker(latlng, { ...common, radius: 6 }),
    },
  );
}

// A tooltip's content: lines of text, the first in bold.
export function tooltipContent(lines) {
  return el(
    "div",
    { class: "map-tooltip" },
    lines.filter(Boolean).map((line, i) => el(i === 0 ? "strong" : "div", {}, line)),
  );
}
