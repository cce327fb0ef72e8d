// Open cases as markers coloured by class, clustered, pulsing when overdue or urgent; a
// click shows the case and its history as the API gives them to this role. One marker per
// case, whatever arrives twice; at most `max_cases` (the newest) are kept.

import {areaQuery, dateTime, el, getJSON, t, toMap} from "./util.js";

export class Cases {
  constructor(cluster, areas, cfg) {
    this.cluster = cluster;
    this.areas = areas;
    this.cfg = cfg;
    this.open = new Set(cfg.open_statuses);
    this.markers = new Map();  // id -> {marker, area, version}; insertion order = age
    this.perArea = new Map();  // grid (or township) code -> open cases
    this.onSelect = null;      // (id) => …, set by the dispatcher's controls
    this.held = null;          // while loading: grids whose count changed
  }

  // Newest first, a page at a time: the next page is on its way while this one is drawn,
  // and each page goes into the cluster at once (one refresh of its icons, not 500). The
  // grids learn their counts at the end (one redraw of their layer, not one a page).
  async load() {
    const page = (cursor) => getJSON(this.cfg, `/reports?format=geojson&status=open&limit=500`
      + `${areaQuery(this.cfg, "&")}${cursor}`);
    this.held = new Set();
    try {
      let next = page("");
      for (let n = 0; next && n < 50; n++) {
        const body = await next;
        next = body.next_cursor && this.markers.size + body.features.length < this.cfg.max_cases
          ? page(`&cursor=${encodeURIComponent(body.next_cursor)}`) : null;
        const added = [];
        for (const f of body.features.reverse()) {  // oldest first: the newest stay
          const p = f.properties;
          this.upsert({id: p.id, area: p.grid ? p.grid.code : (p.chain[0]?.code ?? p.owner.code),
            status: p.status,
            report_class: p.class, severity: p.severity, overdue: p.overdue, version: p.version,
            lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1]}, added);
        }
        // (not those the cap took out again before they were in)
        await this.addAll(added.filter((m) => this.markers.get(m.reportId)?.marker === m));
      }
    } finally {
      const held = this.held;
      this.held = null;
      for (const code of held) this.areas.setCount(code, this.perArea.get(code) || 0);
    }
  }

  // Markers into the cluster in one go; resolves once they are all in (its chunked loading
  // may spread a large batch over a few frames).
  addAll(markers) {
    if (!this.cluster._map) { this.cluster.addLayers(markers); return Promise.resolve(); }
    return new Promise((resolve) => {
      this.cluster.options.chunkProgress = (done, total) => { if (done === total) resolve(); };
      this.cluster.addLayers(markers);
    });
  }

  // A report as the list or an event describes it (events: `ReportEvent` payloads). A new
  // marker goes into the cluster now, or into `batch` for the caller to add in bulk.
  upsert(r, batch = null) {
    const known = this.markers.get(r.id);
    if (known && known.version > r.version) return;  // an older state arriving late
    if (!this.open.has(r.status)) { this.remove(r.id); return; }
    const alert = r.overdue || r.severity === "urgent";
    const icon = L.divIcon({className: `case-marker ${r.report_class}${alert ? " alert" : ""}`,
      iconSize: [22, 22], html: ""});
    if (known) {
      known.marker.setIcon(icon);
      known.marker.setLatLng(toMap(this.cfg, r.lon, r.lat));
      known.version = r.version;
      known.status = r.status;
      this.markers.delete(r.id);  // move to the newest end
      this.markers.set(r.id, known);
      this.colour(known.marker, r.report_class);
      if (known.area !== r.area) { this.count(known.area, -1); this.count(r.area, 1); known.area = r.area; }
      return;
    }
    const marker = L.marker(toMap(this.cfg, r.lon, r.lat), {icon});
    marker.reportId = r.id;
    marker.on("add", () => this.colour(marker, r.report_class));
    marker.bindPopup(() => this.details(r.id), {maxWidth: 640});
    marker.on("click", () => this.onSelect?.(r.id));  // a dispatcher's wall: candidates
    this.markers.set(r.id, {marker, area: r.area, version: r.version, status: r.status});
    if (batch) batch.push(marker); else this.cluster.addLayer(marker);
    this.count(r.area, 1);
    while (this.markers.size > this.cfg.max_cases) this.remove(this.markers.keys().next().value);
  }

  colour(marker, cls) {
    marker.reportClass = cls;
    const node = marker.getElement();
    if (node) node.style.background = this.cfg.class_colours[cls] || "#ccc";
    marker.getElement()?.setAttribute("data-report", marker.reportId);
  }

  remove(id) {
    const known = this.markers.get(id);
    if (!known) return;
    this.cluster.removeLayer(known.marker);
    this.markers.delete(id);
    this.count(known.area, -1);
  }

  count(code, delta) {
    const n = Math.max((this.perArea.get(code) || 0) + delta, 0);
    if (n) this.perArea.set(code, n); else this.perArea.delete(code);
    if (this.held) this.held.add(code); else this.areas.setCount(code, n);
  }

  details(id) {
    const box = el("div", {class: "case-details"}, "…");
    getJSON(this.cfg, `/reports/${encodeURIComponent(id)}`).then((r) => {
      const s = (k) => t(this.cfg, k);
      const flags = [r.overdue ? s("overdue") : "", r.severity === "urgent" ? s("urgent") : ""]
        .filter(Boolean).join(" · ");
      const who = r.reporter && (r.reporter.name || r.reporter.phone)
        ? `${r.reporter.name || ""} ${r.reporter.phone || ""}` : "–";
      box.replaceChildren(
        el("h3", {}, `${s(`class.${r.class}`)} · ${r.subtype} ${flags ? `(${flags})` : ""}`),
        el("p", {}, r.description || ""),
        el("p", {}, `${s("grid")}: ${r.grid ? r.grid.name : "–"} · ${s("owner")}: `
          + `${r.owner.name} · ${s(`status.${r.status}`)}`),
        el("p", {}, `${s("due")}: ${dateTime(this.cfg, r.due_at)} · ${s("reporter")}: ${who}`),
        el("h4", {}, s("history")),
        el("ol", {}, ...r.history.map((h) => el("li", {},
          `${dateTime(this.cfg, h.at)} ${h.actor}: ${h.action} → `
          + `${s(`status.${h.to_status}`)} ${h.note || ""}`))));
    }).catch(() => box.replaceChildren("–"));
    return box;
  }
}
