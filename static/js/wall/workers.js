// Workers as markers by role; stale ones greyed with "last seen N min ago"; offline ones
// in their own layer (behind the layer switch); off duty ones not shown.

import {areaQuery, getJSON, t, toMap} from "./util.js";

const ROLE_TAGS = {grid_worker: "GW", grid_leader: "GL", grid_guide: "GG", militia: "MB",
  liaison_head: "LH"};

export class Workers {
  constructor(layer, offlineLayer, cfg) {
    this.layer = layer;
    this.offlineLayer = offlineLayer;
    this.cfg = cfg;
    this.known = new Map();  // code -> {marker, status, at (ms of the fix), role}
    setInterval(() => this.refreshAges(), 30_000);
  }

  async load() {
    const body = await getJSON(this.cfg, `/workers?located=true${areaQuery(this.cfg, "&")}`);
    for (const w of body.workers) {
      const p = w.position;
      this.upsert({code: w.code, role: w.role, status: w.status, lon: p?.lon, lat: p?.lat,
        recorded_at: p?.recorded_at});
    }
  }

  // A worker as the list or an event (`WorkerEvent` payload) describes it.
  upsert(w) {
    let known = this.known.get(w.code);
    const at = w.recorded_at ? Date.parse(w.recorded_at) : null;
    if (known && at && known.at && at < known.at) return;  // a late fix never moves it back
    if (w.status === "off_duty" || w.lon == null) { this.remove(w.code); return; }
    if (!known) {
      const marker = L.marker(toMap(this.cfg, w.lon, w.lat), {zIndexOffset: 500});
      marker.workerCode = w.code;
      marker.bindTooltip(() => `${w.code} · ${t(this.cfg, `role.${known.role}`)} · `
        + t(this.cfg, `worker.${known.status}`));
      known = {marker, role: w.role};
      this.known.set(w.code, known);
    } else {
      known.marker.setLatLng(toMap(this.cfg, w.lon, w.lat));
    }
    Object.assign(known, {status: w.status, at: at ?? known.at, role: w.role || known.role});
    this.place(known);
  }

  place(known) {
    const age = known.at ? (Date.now() - known.at) / 60000 : null;
    const stale = known.status === "stale" || (known.status === "online" && age > this.cfg.stale_min);
    const offline = known.status === "offline";
    const seen = stale && age != null ? t(this.cfg, "last_seen", {n: Math.floor(age)}) : "";
    const cls = `worker-marker${stale ? " stale" : ""}${offline ? " offline" : ""}`;
    const key = `${cls}|${seen}|${known.role}`;
    if (known.key !== key) {
      known.key = key;
      const icon = L.divIcon({className: cls, iconSize: [30, 26], html: ""});
      known.marker.setIcon(icon);
      const fill = () => {
        const node = known.marker.getElement();
        if (!node) return;
        node.textContent = ROLE_TAGS[known.role] || "W";
        node.dataset.worker = known.marker.workerCode;
        node.dataset.status = stale ? "stale" : known.status;
        node.classList.toggle("candidate", Boolean(known.candidate));
        if (seen) node.append(Object.assign(document.createElement("span"),
          {className: "seen", textContent: seen}));
      };
      known.marker.off("add").on("add", fill);
      fill();
    }
    const want = offline ? this.offlineLayer : this.layer;
    const other = offline ? this.layer : this.offlineLayer;
    if (other.hasLayer(known.marker)) other.removeLayer(known.marker);
    if (!want.hasLayer(known.marker)) want.addLayer(known.marker);
  }

  // Highlight a worker the dispatcher may send (kept through icon changes).
  mark(code, on) {
    const known = this.known.get(code);
    if (!known) return;
    known.candidate = on;
    known.marker.getElement()?.classList.toggle("candidate", on);
  }

  remove(code) {
    const known = this.known.get(code);
    if (!known) return;
    this.layer.removeLayer(known.marker);
    this.offlineLayer.removeLayer(known.marker);
    this.known.delete(code);
  }

  refreshAges() { for (const known of this.known.values()) this.place(known); }
}
