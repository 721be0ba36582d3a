// Makes the console's offline basemap: Natural Earth country borders (world-atlas) as GeoJSON.
//
// Run with node from a folder holding the unpacked npm packages world-atlas@2.0.2 and
// topojson-client@3.1.0 (see tools/README.md); writes the GeoJSON to the path given.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";

const [atlasDir, clientDir, out] = process.argv.slice(2);
if (!out) {
  console.error("usage: node make_basemap.mjs <world-atlas dir> <topojson-client dir> <out.geojson>");
  process.exit(2);
}
const { feature } = createRequire(import.meta.url)(resolve(clientDir, "dist/topojson-client.js"));
const topology = JSON.parse(readFileSync(`${atlasDir}/countries-50m.json`, "utf8"));
const countries = feature(topology, topology.objects.countries);

// Three decimals (~100 m) are finer than the 1:50m source; they keep the file small.
const round = (value) =>
  Array.isArray(value) ? value.map(round) : Math.round(value * 1000) / 1000;

const collection = {
  type: "FeatureCollection",
  properties: { source: "Natural Earth 1:50m via world-atlas 2.0.2 (public domain)" },
  features: countries.features.map((f) => ({
    type: "Feature",
    properties: { name: f.properties.name },
    geometry: { type: f.geometry.type, coordinates: round(f.geometry.coordinates) },
  })),
};
writeFileSync(out, JSON.stringify(collection));
console.log(`${collection.features.length} countries written to ${out}`);
