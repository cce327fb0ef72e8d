// The live event stream (SSE): reconnects by itself, resumes after the last event seen
// (Last-Event-ID on the browser's own retries, `after=` when it has to start over), never
// hands an event over twice, and says when it is down.

const KINDS = ["report.created", "report.changed", "report.escalated", "report.overdue",
  "report.merged", "worker.moved", "worker.status", "worker.entered", "boundary.published",
  "callout.created", "callout.called", "callout.acked", "callout.closed"];

export class Stream {
  constructor(url, {onEvent, onUp, onDown}) {
    this.url = url;
    this.handlers = {onEvent, onUp, onDown};
    this.lastId = 0;       // the highest event id handed over: older ones are replays
    this.up = false;
    this.everUp = false;
    this.connect();
  }

  connect() {
    const url = this.lastId ? `${this.url}${this.url.includes("?") ? "&" : "?"}after=${this.lastId}`
      : this.url;
    const es = this.es = new EventSource(url);
    es.onopen = () => {
      const again = this.everUp;
      this.up = this.everUp = true;
      this.handlers.onUp(again);
    };
    es.onerror = () => {
      if (this.up || !this.everUp) this.handlers.onDown();
      this.up = false;
      if (es.readyState === EventSource.CLOSED) {  // refused (not a network error): retry
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.connect(), 2000);
      }
    };
    // The events after `lastId` were pruned: what the wall holds may be stale, start over.
    es.addEventListener("reset", () => this.handlers.onEvent("reset", {}, 0));
    for (const kind of KINDS) {
      es.addEventListener(kind, (message) => {
        const id = Number(message.lastEventId);
        if (id && id <= this.lastId) return;  // seen already (a replay overlapping)
        if (id) this.lastId = id;
        this.handlers.onEvent(kind, JSON.parse(message.data), id);
      });
    }
  }

  // The link may die silently (no TCP reset): a failed read elsewhere starts over.
  restart() {
    this.es.close();
    if (this.up) this.handlers.onDown();
    this.up = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), 1000);
  }
}
