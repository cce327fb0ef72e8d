// The History panel: the published boundary versions (GET /versions), newest first, with
// who published each and when, its note, how many grids and groups it holds and what its
// publish moved. Two versions picked (from, to) are compared on the map: the lists from
// GET /versions/{a}/diff/{b}, the outlines from the same with ?format=geojson (added green,
// removed red, reshaped orange; renamed and reparented areas listed). An earlier version
// can be rolled back to (POST /versions/{id}/rollback, the one publish path) after a
// confirmation naming what it will do.

import {dateTime, el, t} from "../wall/util.js";
import {api} from "./api.js";

const CHANGES = ["added", "removed", "reshaped", "renamed", "reparented"];

export class History {
  // editor: {confirm(text), status(text, kind), rolledBack(answer, text), live(id)}
  constructor(cfg, areas, editor) {
    this.cfg = cfg;
    this.areas = areas;
    this.editor = editor;
    this.versions = [];
    this.diff = null;  // {a, b, level, lists, features} of what is drawn
    this.loaded = false;
    this.$ = (id) => document.getElementById(id);
    this.$("ed-history-load").addEventListener("click", () => this.load());
    this.$("ed-history-diff").addEventListener("click", () => this.compare());
    this.$("ed-history-clear").addEventListener("click", () => this.clear());
    this.$("ed-history-list").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-rollback]");
      if (button) this.rollback(Number(button.dataset.rollback));
    });
  }

  number(n) {
    return Math.round(Number(n ?? 0)).toLocaleString(this.cfg.lang === "zh" ? "zh-CN" : "en");
  }

  // The published versions (drafts have their own picker), newest first; the two newest
  // are picked to compare.
  async load() {
    try {
      const answer = await api(this.cfg, "GET", "/versions");
      this.versions = (answer.versions || []).filter((v) => v.state !== "draft").reverse();
    } catch (err) {
      this.editor.status(t(this.cfg, "refused", {message: err.message}), "bad");
      return;
    }
    const list = this.$("ed-history-list");
    list.replaceChildren(...this.versions.map((v, i) => this.row(v, i)));
    if (!this.versions.length) list.append(el("li", {class: "none"}, t(this.cfg, "history.none")));
    this.$("ed-history-compare").hidden = this.$("ed-history-cols").hidden =
      this.versions.length < 2;
    this.loaded = true;
    const live = this.versions.find((v) => v.state === "live");
    try {
      if (live) await this.editor.live(live.id);
    } catch (err) {
      this.editor.status(t(this.cfg, "refused", {message: err.message}), "bad");
    }
    document.body.dataset.versions = String(this.versions.length);
  }

  // After something else was published: the list again, if it is shown.
  async refresh() {
    if (this.loaded) await this.load();
  }

  row(v, i) {
    const pick = (name, checked) => {
      const input = el("input", {type: "radio", name, value: String(v.id),
        "aria-label": `${t(this.cfg, name === "ed-from" ? "history.from" : "history.to")} ${
          v.id}`});
      input.checked = checked;
      return input;
    };
    const title = el("strong", {}, t(this.cfg, "history.version", {id: v.id}));
    const head = el("div", {class: "head"}, pick("ed-from", i === 1), pick("ed-to", i === 0),
      title);
    if (v.state === "live") head.append(el("span", {class: "live"}, t(this.cfg, "history.live")));
    const who = v.published_by || v.author || "–";
    const parts = [head, el("div", {class: "when"}, t(this.cfg, "history.by",
      {when: dateTime(this.cfg, v.published_at || v.created_at), who}))];
    if (v.note) parts.push(el("div", {class: "note"}, v.note));
    const facts = [t(this.cfg, "history.counts", {grids: this.number(v.counts?.grid),
      groups: this.number(v.counts?.group)})];
    if (v.households_moved != null) {
      facts.push(t(this.cfg, "history.moved", {households: this.number(v.households_moved),
        cases: this.number(v.cases_moved)}));
    }
    parts.push(...facts.map((text) => el("div", {class: "facts"}, text)));
    if (v.state === "retired") {
      parts.push(el("button", {type: "button", "data-rollback": String(v.id)},
        t(this.cfg, "history.rollback")));
    }
    return el("li", {"data-version": String(v.id), "data-state": v.state}, ...parts);
  }

  picked() {
    const value = (name) => Number(document.querySelector(`input[name=${name}]:checked`)?.value);
    return {a: value("ed-from"), b: value("ed-to")};
  }

  async compare() {
    const {a, b} = this.picked();
    if (!a || !b || a === b) {
      this.editor.status(t(this.cfg, "history.pick"), "bad");
      return null;
    }
    const level = this.$("ed-history-level").value;
    const query = level ? `?level=${level}` : "";
    this.editor.status(t(this.cfg, "loading"));
    try {
      const path = `/versions/${a}/diff/${b}`;
      const [lists, features] = await Promise.all([api(this.cfg, "GET", path + query),
        api(this.cfg, "GET", `${path}?format=geojson${level ? `&level=${level}` : ""}`)]);
      this.diff = {a, b, level, lists, features};
      this.areas.drawDiff(features);
      this.list(lists);
      const bounds = this.areas.layers.history.getBounds();
      if (bounds.isValid()) this.areas.map.fitBounds(bounds, {padding: [40, 40], maxZoom: 17});
      this.$("ed-history-clear").disabled = false;
      this.$("ed-diff-summary").scrollIntoView({block: "nearest"});
      this.editor.status(this.$("ed-diff-summary").textContent, "ok");
      return this.diff;
    } catch (err) {
      this.editor.status(t(this.cfg, "refused", {message: err.message}), "bad");
      return null;
    }
  }

  counts(lists) {
    return CHANGES.filter((k) => lists[k]?.length).map((k) => t(this.cfg, "diff.count",
      {n: lists[k].length, change: t(this.cfg, `change.${k}`)})).join(t(this.cfg, "sep"));
  }

  list(lists) {
    const counts = this.counts(lists);
    this.$("ed-diff-summary").textContent = t(this.cfg, "diff.title",
      {a: lists.from, b: lists.to, changes: counts || t(this.cfg, "diff.none")});
    const items = [];
    for (const change of CHANGES) {
      for (const e of lists[change] || []) {
        const item = el("li", {"data-change": change, "data-code": e.code,
          "data-level": e.level ?? ""}, el("i", {style: `border-color:${
          this.cfg.colours[change] ?? "#64748b"}`}), el("b", {}, t(this.cfg, `change.${change}`)),
        " ", this.describe(change, e));
        item.addEventListener("click", () => {
          const bounds = this.areas.diffBounds(e.code);
          if (bounds?.isValid()) this.areas.map.fitBounds(bounds, {maxZoom: 17});
        });
        items.push(item);
      }
    }
    this.$("ed-diff-list").replaceChildren(...items);
  }

  describe(change, e) {
    if (change === "renamed") {
      return t(this.cfg, "diff.renamed", {code: e.code, old: e.old_name ?? "–",
        new: e.new_name ?? "–"});
    }
    if (change === "reparented") {
      return t(this.cfg, "diff.reparented", {name: e.name ?? "", code: e.code,
        old: e.old_parent_code ?? "–", new: e.new_parent_code ?? "–"});
    }
    if (change === "reshaped") {
      const delta = Number(e.area_change_m2 ?? 0);
      return t(this.cfg, "diff.reshaped", {name: e.name ?? "", code: e.code,
        change: (delta > 0 ? "+" : delta < 0 ? "−" : "±") + this.number(Math.abs(delta)),
        moved: this.number(e.symmetric_difference_m2)});
    }
    return t(this.cfg, "diff.area", {name: e.name ?? "", code: e.code,
      m2: this.number(e.area_m2)});
  }

  clear() {
    this.diff = null;
    this.areas.drawDiff(null);
    this.$("ed-diff-summary").textContent = "";
    this.$("ed-diff-list").replaceChildren();
    this.$("ed-history-clear").disabled = true;
  }

  // Roll back to an earlier version: say what it will change (a diff of the live version
  // and that one, every level), ask, then publish it through the one path.
  async rollback(target) {
    const live = this.versions.find((v) => v.state === "live")?.id ?? this.cfg.live_version;
    let changes = "";
    try {
      changes = this.counts(await api(this.cfg, "GET", `/versions/${live}/diff/${target}`));
    } catch (err) {
      this.editor.status(t(this.cfg, "refused", {message: err.message}), "bad");
      return null;
    }
    const ok = await this.editor.confirm(t(this.cfg, "rollback.confirm", {id: target, live,
      changes: changes || t(this.cfg, "diff.none")}));
    if (!ok) return null;
    const box = this.$("ed-history-result");
    let answer;
    try {
      answer = await api(this.cfg, "POST", `/versions/${target}/rollback`,
        {note: t(this.cfg, "rollback.note", {id: target})});
    } catch (err) {
      const text = t(this.cfg, "refused", {message: err.message});
      box.replaceChildren(el("p", {class: "bad"}, text));
      this.editor.status(text, "bad");
      return null;
    }
    const text = t(this.cfg, "rollback.done", {target, version: answer.version,
      households: this.number(answer.households_moved),
      groups: this.number(answer.groups_moved), workers: this.number(answer.workers_moved),
      cases: this.number(answer.cases_moved)});
    box.replaceChildren(el("p", {class: "ok", "data-version": String(answer.version)}, text));
    this.clear();
    await this.editor.rolledBack(answer, text);  // the live grids drawn again
    await this.load();
    return answer;
  }
}
