// A GeoJSON file as a notification body, read the way the CLI reads it: one volume a feature;
// a Point with a `radius` is a circle, a LineString with a `half_width` a corridor. The API
// then validates the body and names any bad field.

// notificationFromGeoJSON(document) → body; throws Error with a message for the user when the
// document's shape cannot be read at all.
export function notificationFromGeoJSON(document) {
  if (!document || typeof document !== "object") throw new Error("The file is not a JSON object.");
  if (Array.isArray(document.volumes)) return { ...document };
  let features;
  if (document.type === "Feature") features = [document];
  else if (document.type === "FeatureCollection") features = Array.isArray(document.features) ? document.features : [];
  else throw new Error("Expected a GeoJSON Feature or FeatureCollection, or a notification.");
  if (!features.length) throw new Error("The FeatureCollection has no features.");
  const volumes = features.map((feature, i) => {
    const where = `feature ${i + 1}`;
    const props = feature?.properties || {};
    return { area: area(feature, where), altitude: altitude(props, where), start: props.start, end: props.end };
  });
  const shared = { ...(features[0]?.properties || {}), ...(document.properties || {}) };
  const body = {};
  for (const key of ["kind", "title", "reference"]) if (key in shared) body[key] = shared[key];
  body.volumes = volumes;
  return body;
}

function area(feature, where) {
  const geometry = feature?.geometry || {};
  const props = feature?.properties || {};
  if (geometry.type === "Polygon") return { type: "Polygon", coordinates: geometry.coordinates };
  if (geometry.type === "Point") {
    if (!("radius" in props)) throw new Error(`${where}: a Point needs a 'radius' property in metres.`);
    return { type: "Circle", center: geometry.coordinates, radius: props.radius };
  }
  if (geometry.type === "LineString") {
    if (!("half_width" in props)) throw new Error(`${where}: a LineString needs a 'half_width' property in metres.`);
    return { type: "Corridor", line: { type: "LineString", coordinates: geometry.coordinates }, half_width: props.half_width };
  }
  throw new Error(`${where}: the geometry must be a Polygon, a Point or a LineString, not ${geometry.type}.`);
}

function altitude(props, where) {
  if (props.altitude && typeof props.altitude === "object") return { ...props.altitude };
  const missing = ["altitude_lower", "altitude_upper"].filter((k) => !(k in props));
  if (missing.length) throw new Error(`${where}: the properties need an 'altitude' object or ${missing.join(", ")}.`);
  const result = {};
  for (const key of ["lower", "upper", "units", "reference"]) {
    if (`altitude_${key}` in props) result[key] = props[`altitude_${key}`];
  }
  return result;
}

// Reads a File as a notification body: {name, body}. Throws Error with a message to show.
export async function readGeoJSONFile(file) {
  if (file.size > 5 * 1024 * 1024) throw new Error(`${file.name} is larger than 5 MB.`);
  let document;
  try {
    document = JSON.parse(await file.text());
  } catch (error) {
    throw new Error(`${file.name} is not valid JSON: ${error.message}`);
  }
  return { name: file.name, body: notificationFromGeoJSON(document) };
}
