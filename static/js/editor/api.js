// The editor's side of the API: its page configuration, reads with the session cookie and
// writes with the CSRF token the page was handed (both same-origin only). A refused call
// rejects with an ApiError carrying the service's error code, message and detail.

export function pageConfig() {
  return JSON.parse(document.getElementById("editor-config").textContent);
}

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || String(status));
    this.status = status;
    this.code = error?.code || "";
    this.field = error?.field || null;
    this.detail = error?.detail || null;
  }
}

export async function api(cfg, method, path, body) {
  const headers = {Accept: "application/json"};
  const init = {method, credentials: "same-origin", headers};
  if (method !== "GET") {
    headers["X-CSRF-Token"] = cfg.csrf || "";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body ?? {});
  }
  const response = await fetch(cfg.api + path, init);
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = answer.error || {};
    throw new ApiError(response.status, {...error, detail: error.detail ?? answer.detail});
  }
  return answer;
}

// GeoJSON coordinates of a drawn layer in WGS84 (what the API takes), from where they are
// drawn on this page's basemap.
export function mapCoords(coords, fromMap) {
  if (typeof coords[0] === "number") return fromMap(L.latLng(coords[1], coords[0]));
  return coords.map((c) => mapCoords(c, fromMap));
}

// Point in a GeoJSON (Multi)Polygon, by ray casting over every ring (holes count).
export function covers(geometry, [x, y]) {
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates]
    : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
  let inside = false;
  for (const rings of polygons) {
    for (const ring of rings) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [xi, yi] = ring[i], [xj, yj] = ring[j];
        if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inside = !inside;
      }
    }
  }
  return inside;
}
