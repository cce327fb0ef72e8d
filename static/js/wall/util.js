// Small helpers shared by the wall's modules: the page's configuration, API reads,
// strings in the page's language, DOM building without HTML strings, GCJ-02 shifting.

export function pageConfig() {
  return JSON.parse(document.getElementById("wall-config").textContent);
}

// A read not answered in this long has been lost (a half-open link answers nothing, and
// the wall would wait for ever): it fails, and the caller starts over.
const READ_TIMEOUT_MS = 15_000;

// A read of the service's own API: the session cookie authenticates it (same origin).
export async function getJSON(cfg, path) {
  const response = await fetch(cfg.api + path, {credentials: "same-origin",
    headers: {Accept: "application/json"}, signal: AbortSignal.timeout(READ_TIMEOUT_MS)});
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// A write from a dispatcher's wall: the session cookie plus the CSRF token the page was
// handed (the server refuses a cookie write without it, or from another site). Resolves
// to the JSON answer; rejects with the error's message in the page's language of the API.
export async function postJSON(cfg, path, body) {
  const response = await fetch(cfg.api + path, {method: "POST", credentials: "same-origin",
    headers: {Accept: "application/json", "Content-Type": "application/json",
      "X-CSRF-Token": cfg.csrf || ""}, body: JSON.stringify(body)});
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error?.message || String(response.status));
  return answer;
}

// The area filter every read of a one-area wall carries.
export function areaQuery(cfg, sep = "?") {
  return cfg.area ? `${sep}area=${encodeURIComponent(cfg.area)}` : "";
}

export function t(cfg, key, values = {}) {
  let text = cfg.strings[key] ?? key.split(".").pop();
  for (const [k, v] of Object.entries(values)) text = text.replace(`{${k}}`, v);
  return text;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
  return node;
}

export function clock(cfg, date = new Date()) {
  return new Intl.DateTimeFormat(cfg.lang === "zh" ? "zh-CN" : "en-GB",
    {hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: cfg.timezone}).format(date);
}

// A date and time where the command center is, as the page's language writes it, 24-hour:
// zh "2026-11-29 15:40", en "29 Nov 2026, 15:40".
export function dateTime(cfg, when) {
  const date = when instanceof Date ? when : new Date(when);
  if (Number.isNaN(date.getTime())) return "–";
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {year: "numeric",
    month: cfg.lang === "zh" ? "2-digit" : "short", day: "2-digit", hour: "2-digit",
    minute: "2-digit", hourCycle: "h23", timeZone: cfg.timezone}).formatToParts(date)
    .map((p) => [p.type, p.value]));
  const time = `${parts.hour}:${parts.minute}`;
  return cfg.lang === "zh" ? `${parts.year}-${parts.month}-${parts.day} ${time}`
    : `${parts.day} ${parts.month} ${parts.year}, ${time}`;
}

export function today(cfg) {  // YYYY-MM-DD where the command center is
  return new Intl.DateTimeFormat("en-CA", {timeZone: cfg.timezone}).format(new Date());
}

// WGS84 -> GCJ-02 (the published approximation), for basemaps drawn in GCJ-02: overlays
// stored in WGS84 are shifted onto them. Outside China the shift is zero.
const A = 6378245.0, EE = 0.00669342162296594323;
function outside(lon, lat) { return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271; }
function tLat(x, y) {
  let r = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  r += (20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2 / 3;
  r += (20 * Math.sin(y * Math.PI) + 40 * Math.sin(y / 3 * Math.PI)) * 2 / 3;
  return r + (160 * Math.sin(y / 12 * Math.PI) + 320 * Math.sin(y * Math.PI / 30)) * 2 / 3;
}
function tLon(x, y) {
  let r = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  r += (20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2 / 3;
  r += (20 * Math.sin(x * Math.PI) + 40 * Math.sin(x / 3 * Math.PI)) * 2 / 3;
  return r + (150 * Math.sin(x / 12 * Math.PI) + 300 * Math.sin(x / 30 * Math.PI)) * 2 / 3;
}
export function gcj02(lon, lat) {
  if (outside(lon, lat)) return [lon, lat];
  const radLat = lat / 180 * Math.PI;
  let magic = Math.sin(radLat); magic = 1 - EE * magic * magic;
  const sq = Math.sqrt(magic);
  const dLat = (tLat(lon - 105, lat - 35) * 180) / ((A * (1 - EE)) / (magic * sq) * Math.PI);
  const dLon = (tLon(lon - 105, lat - 35) * 180) / (A / sq * Math.cos(radLat) * Math.PI);
  return [lon + dLon, lat + dLat];
}

// Where a WGS84 position is drawn on this wall's basemap.
export function toMap(cfg, lon, lat) {
  const [x, y] = cfg.tiles.gcj02 ? gcj02(lon, lat) : [lon, lat];
  return L.latLng(y, x);
}

// Where a point drawn on this wall's basemap lies in WGS84 (a click): GCJ-02 inverted by
// fixed-point iteration (a few centimetres after three rounds).
export function fromMap(cfg, latlng) {
  if (!cfg.tiles.gcj02) return [latlng.lng, latlng.lat];
  let [lon, lat] = [latlng.lng, latlng.lat];
  for (let i = 0; i < 3; i++) {
    const [x, y] = gcj02(lon, lat);
    lon -= x - latlng.lng;
    lat -= y - latlng.lat;
  }
  return [lon, lat];
}
