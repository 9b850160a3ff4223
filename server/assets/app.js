/* weir — live dashboard.
 *
 * Plain ES2020, no dependencies, no build step. Served as /app.js next to
 * /index.html and /style.css.
 *
 * Data flow: one WebSocket (/ws) delivers a `snapshot` (replaces the state of
 * the subscribed zones) followed by coalesced `update`s (merged). REST is used
 * for the first paint of the overview, for the history view, for pre-filling
 * sparklines and, while the socket is narrowed to one zone (or down), for
 * keeping the alert panel global.
 *
 * Stable hooks for browser tests:
 *   #status[data-state="connected"]   once a snapshot has been applied
 *   #overview                          root of the zone overview
 *   [data-sensor="<id>"] .value        sensor card and its current value
 *   #alerts                            the alert panel
 *   #alert-list [data-alert="<id>"]    an alert row (.ack-btn: its Ack button)
 *   #health[data-state="ok|degraded|unavailable|unknown"]   the pipeline-health panel (/health)
 *   #signin (form), #signin-token, #signin-error   sign-in with an API token
 *   #who[data-role="viewer|operator|admin"], #signout   who is signed in
 *
 * Sign-in: when the server asks for tokens (401 from /api/me), the page shows
 * #signin; the token is kept in sessionStorage (this tab, until it closes),
 * sent as `Authorization: Bearer` and, for the WebSocket (which cannot carry
 * headers), as the protocol `bearer.<token>` beside `weir`. Ack buttons
 * appear for operators and admins only; the server answers for the token's
 * zones only.
 */
'use strict';
(function () {

  // ───────────────────────────────────────────────────────────── config ──

  const CFG = {
    chartPoints: 300,          // live points kept per sensor
    maxBufferedSensors: 5000,  // sensors with a live buffer (focused zone always gets one)
    maxAlerts: 50,             // anomalies kept / shown
    maxIncidents: 200,         // incidents kept (open ones are never dropped)
    latencySamples: 100,       // end-to-end latency window (p50)
    rateWindowS: 5,            // messages/s is averaged over this many seconds
    staleDefaultMs: 60e3,      // no new reading for this long = stale (until the interval is known)
    staleMinMs: 15e3,          // ... then 5 × the observed interval, clamped to these bounds
    staleMaxMs: 15 * 60e3,
    renderIntervalMs: 250,     // at most ~4 DOM/canvas passes per second
    pollMs: 10e3,              // REST polling while the socket does not cover all zones
    healthMs: 5e3,             // /health polling (the pipeline-health panel)
    backoffBaseMs: 1000,
    backoffMaxMs: 10e3,
    stableAfterMs: 30e3,       // a connection this old resets the backoff
    prefillMs: 5 * 60e3,       // sparkline pre-fill from the history API
    prefillMaxSensors: 120,
    prefillConcurrency: 3,
    clockSkewMs: 5 * 60e3,     // history anchors at the last reading when it is this far from now
    resolvedAlertMs: 10 * 60e3, // a resolved alert stays listed this long (wall time)
    maxResolvedAlerts: 100,    // resolved alerts kept (open ones are never dropped)
    maxAlertRows: 100,         // alert rows shown (the rest is counted)
  };

  const RANGES = { '15m': 15 * 60e3, '1h': 3600e3, '6h': 6 * 3600e3, '24h': 24 * 3600e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };
  const RANGE_LABEL = { '15m': '15 min', '1h': '1 h', '6h': '6 h', '24h': '24 h', '7d': '7 d', '30d': '30 d' };
  const REFRESH_MS = { '15m': 10e3, '1h': 30e3, '6h': 60e3, '24h': 120e3, '7d': 600e3, '30d': 600e3 };
  const RESOLUTIONS = ['auto', 'raw', '5m', '1h'];
  const STATE_RANK = { critical: 3, warning: 2, stale: 1, ok: 0 };
  const STATE_LABEL = { critical: 'CRITICAL', warning: 'WARNING', stale: 'STALE', ok: 'NORMAL' };

  // ──────────────────────────────────────────────────────────── helpers ──

  const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  const str = (x) => (typeof x === 'string' ? x : x == null ? '' : String(x));
  const arr = (x) => (Array.isArray(x) ? x : []);
  const enc = encodeURIComponent;
  const clamp = (v, a, b) => Math.max(a, Math.min(b, v));
  const pad2 = (n) => String(n).padStart(2, '0');
  const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });
  const natural = (a, b) => collator.compare(a, b);
  const intFmt = new Intl.NumberFormat('en-US');

  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    if (props) {
      for (const k of Object.keys(props)) {
        const v = props[k];
        if (v == null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else if (k === 'dataset') Object.assign(el.dataset, v);
        else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const kid of kids.flat(4)) {
      if (kid == null || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }
  function setText(el, t) {
    t = t == null ? '' : String(t);
    if (el.textContent !== t) el.textContent = t;
  }
  function setClass(el, c) { if (el.className !== c) el.className = c; }
  function setAttr(el, k, v) {
    v = v == null ? null : String(v);
    if (el.getAttribute(k) !== v) { if (v === null) el.removeAttribute(k); else el.setAttribute(k, v); }
  }

  /** Value with a precision suited to its magnitude. */
  function fmtNum(v, ref) {
    v = num(v);
    if (v === null) return '–';
    const a = Math.abs(num(ref) !== null ? ref : v);
    let d;
    if (a >= 1000) d = 0;
    else if (a >= 10) d = 1;
    else if (a >= 1) d = 2;
    else if (a >= 0.01 || a === 0) d = 3;
    else return v.toPrecision(3);
    const s = v.toFixed(d);
    return s === '-0' || /^-0\.0*$/.test(s) ? s.slice(1) : s;
  }
  const fmtInt = (v) => (num(v) === null ? '–' : intFmt.format(Math.round(v)));
  function fmtClock(ms) {
    const d = new Date(ms);
    return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }
  function fmtDate(ms) {
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
  }
  function fmtDateTime(ms) { return num(ms) === null ? '–' : `${fmtDate(ms)} ${fmtClock(ms)}`; }
  /** Clock time if today, else date and time. */
  function fmtTs(ms) {
    if (num(ms) === null) return '–';
    return fmtDate(ms) === fmtDate(Date.now()) ? fmtClock(ms) : fmtDateTime(ms);
  }
  function fmtDur(ms) {
    if (num(ms) === null) return '–';
    let s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s}s`;
    let m = Math.floor(s / 60); s %= 60;
    if (m < 60) return `${m}m ${pad2(s)}s`;
    let hr = Math.floor(m / 60); m %= 60;
    if (hr < 48) return `${hr}h ${pad2(m)}m`;
    return `${Math.floor(hr / 24)}d ${hr % 24}h`;
  }
  const fmtAgo = (ms, now) => (num(ms) === null ? '–' : now - ms < 1000 ? 'now' : `${fmtDur(now - ms)} ago`);
  function thresholdText(kind, thr) {
    const k = str(kind);
    if (!k) return 'z-score';
    const dir = /high/.test(k) ? '>' : /low/.test(k) ? '<' : '';
    const t = num(thr);
    return t === null ? k.replace('_', ' ') : `${k.replace('_', ' ')} ${dir}${fmtNum(t)}`;
  }
  function sevOf(x) { return x === 'critical' ? 'critical' : x === 'warning' ? 'warning' : 'ok'; }
  const ALERT_KIND = { zscore: 'z-score', threshold_high: 'threshold high', threshold_low: 'threshold low', zone: 'zone-wide', silent: 'silent' };
  const alertKind = (k) => ALERT_KIND[k] || str(k).replace(/_/g, ' ') || '–';

  // ───────────────────────────────────────────────────── live series ──

  /** Fixed-size ring buffer of (t, v) points, ordered by t. */
  class Series {
    constructor(cap) {
      this.cap = cap;
      this.t = new Float64Array(cap);
      this.v = new Float64Array(cap);
      this.head = 0;
      this.len = 0;
    }
    at(i) { return (this.head + i) % this.cap; }
    lastT() { return this.len ? this.t[this.at(this.len - 1)] : -Infinity; }
    firstT() { return this.len ? this.t[this.head] : Infinity; }
    clear() { this.head = 0; this.len = 0; }
    push(t, v) {
      if (this.len) {
        const lt = this.lastT();
        if (t === lt) return false;                 // unchanged reading
        if (t < lt) {
          if (lt - t > 10 * 60e3) this.clear();     // the clock went far back (replay): start over
          else return false;                        // a late reading: the chart only moves forward
        }
      }
      const i = this.at(this.len);
      this.t[i] = t;
      this.v[i] = v;
      if (this.len < this.cap) this.len++;
      else this.head = (this.head + 1) % this.cap;
      return true;
    }
    arrays() {
      const t = new Array(this.len), v = new Array(this.len);
      for (let k = 0; k < this.len; k++) { const i = this.at(k); t[k] = this.t[i]; v[k] = this.v[i]; }
      return { t, v };
    }
    /** Mean spacing of the points (event time), or null. */
    interval() { return this.len >= 3 ? (this.lastT() - this.firstT()) / (this.len - 1) : null; }
    /** Merges older points (e.g. from the history API); existing points win. */
    merge(points) {
      const m = new Map();
      for (const p of points) if (num(p.t) !== null && num(p.v) !== null) m.set(p.t, p.v);
      const cur = this.arrays();
      for (let k = 0; k < cur.t.length; k++) m.set(cur.t[k], cur.v[k]);
      const keys = Array.from(m.keys()).sort((a, b) => a - b).slice(-this.cap);
      this.clear();
      for (const t of keys) this.push(t, m.get(t));
    }
  }

  // ───────────────────────────────────────────────────────────── state ──

  const S = {
    sensors: new Map(),      // id -> merged Sensor (+ _seen: wall ms of its last new reading, _live)
    series: new Map(),       // id -> Series
    anomalies: [],           // newest first, at most CFG.maxAlerts
    incidents: new Map(),    // key -> Incident (+ _placeholder for REST-only knowledge)
    alerts: new Map(),       // alert_id -> Alert (+ _resolvedAt: wall ms it was seen resolved)
    restZones: new Map(),    // zone -> /api/zones row
    fullSync: false,         // a snapshot covering all zones has been applied
    scope: null,             // zones covered by the last snapshot (null = all)
    zoneIndex: null,         // cache: zone -> [sensor]
    focusZone: null,         // zone of the current view (always gets live buffers)
    dirty: { all: true, sensors: new Set(), alerts: true, membership: true, tick: false },
  };

  function zoneIndex() {
    if (!S.zoneIndex) {
      const m = new Map();
      for (const s of S.sensors.values()) {
        const z = str(s.zone) || '—';
        let a = m.get(z);
        if (!a) m.set(z, (a = []));
        a.push(s);
      }
      for (const a of m.values()) a.sort((x, y) => natural(x.sensor_id, y.sensor_id));
      S.zoneIndex = m;
    }
    return S.zoneIndex;
  }

  function staleAfter(id) {
    const se = S.series.get(id);
    const iv = se ? se.interval() : null;
    return iv ? clamp(iv * 5, CFG.staleMinMs, CFG.staleMaxMs) : CFG.staleDefaultMs;
  }
  function isStale(s, now) {
    if (num(s.value) === null) return true;
    const seen = num(s._seen);
    return seen === null || now - seen > staleAfter(s.sensor_id);
  }
  /** Display state of a sensor: stale overrides severity. */
  function stateOf(s, now) { return isStale(s, now) ? 'stale' : sevOf(s.severity); }

  function appendPoint(s, t, v) {
    let se = S.series.get(s.sensor_id);
    if (!se) {
      if (S.series.size >= CFG.maxBufferedSensors && s.zone !== S.focusZone) return;
      se = new Series(CFG.chartPoints);
      S.series.set(s.sensor_id, se);
    }
    se.push(t, v);
  }

  function upsertSensor(raw, fromUpdate, now) {
    if (!raw || typeof raw !== 'object') return;
    const id = raw.sensor_id;
    if (typeof id !== 'string' || !id) return;
    let s = S.sensors.get(id);
    const prevTs = s ? s.ts : undefined;
    const prevZone = s ? s.zone : undefined;
    if (!s) { s = { sensor_id: id }; S.sensors.set(id, s); S.dirty.membership = true; }
    for (const k of Object.keys(raw)) if (k[0] !== '_') s[k] = raw[k];
    s._live = true;
    if (s.zone !== prevZone) S.dirty.membership = true;
    const ts = num(s.ts);
    const newReading = ts !== null && ts !== prevTs;
    if (newReading) {
      if (fromUpdate) s._seen = now;
      else {
        // A snapshot: estimate the reading's age from when it entered Kafka.
        const ing = num(s.ingest_ts);
        s._seen = ing !== null ? Math.min(now, ing) : now;
      }
    } else if (s._seen == null) s._seen = now;
    const v = num(s.value);
    if (ts !== null && v !== null) appendPoint(s, ts, v);
    if (fromUpdate && newReading) {
      const ing = num(raw.ingest_ts);
      if (ing !== null) Metrics.latency(now - ing);
    }
    S.dirty.sensors.add(id);
  }

  function anomalyKey(a) { return `${a.sensor_id}|${a.ts}|${a.threshold_kind || ''}`; }
  function addAnomalies(list) {
    let changed = false;
    const byKey = new Map(S.anomalies.map((a, i) => [a._key, i]));
    for (const a of arr(list).slice(0, 1000)) {
      if (!a || typeof a !== 'object' || typeof a.sensor_id !== 'string') continue;
      const rec = Object.assign({}, a);
      rec._key = anomalyKey(a);
      const i = byKey.get(rec._key);
      if (i !== undefined) S.anomalies[i] = rec;
      else { byKey.set(rec._key, S.anomalies.length); S.anomalies.push(rec); }
      changed = true;
    }
    if (changed) {
      S.anomalies.sort((x, y) => (num(y.ts) || 0) - (num(x.ts) || 0));
      if (S.anomalies.length > CFG.maxAlerts) S.anomalies.length = CFG.maxAlerts;
      S.dirty.alerts = true;
    }
  }

  const incEnd = (i) => (i.open !== false ? Infinity : num(i.end) !== null ? i.end : Infinity);
  function putIncident(raw) {
    if (!raw || typeof raw !== 'object' || typeof raw.zone !== 'string') return;
    const inc = Object.assign({}, raw);
    const start = num(inc.start);
    // Incidents are maximal intervals: one that overlaps a known one of the
    // same zone replaces it (it grew, merged with another, or closed).
    for (const [k, x] of S.incidents) {
      if (x.zone !== inc.zone) continue;
      if (x._placeholder || start === null || num(x.start) === null || x.start === start ||
          (x.start <= incEnd(inc) && start <= incEnd(x))) S.incidents.delete(k);
    }
    S.incidents.set(`${inc.zone}|${start}`, inc);
    if (S.incidents.size > CFG.maxIncidents) {
      const closed = Array.from(S.incidents).filter(([, x]) => x.open === false)
        .sort((a, b) => (num(a[1].end) || 0) - (num(b[1].end) || 0));
      for (const [k] of closed.slice(0, S.incidents.size - CFG.maxIncidents)) S.incidents.delete(k);
    }
    S.dirty.alerts = true;
  }
  function openIncidents(zone) {
    const out = [];
    for (const x of S.incidents.values()) if (x.open !== false && (zone == null || x.zone === zone)) out.push(x);
    return out.sort((a, b) => (num(b.start) || 0) - (num(a.start) || 0));
  }

  function putAlert(raw, now) {
    if (!raw || typeof raw !== 'object' || typeof raw.alert_id !== 'string' || !raw.alert_id) return;
    const rec = Object.assign({}, raw);
    rec.zone = str(rec.zone);
    if (rec.state === 'resolved') {
      const prev = S.alerts.get(rec.alert_id);
      rec._resolvedAt = prev && num(prev._resolvedAt) !== null ? prev._resolvedAt : now;
    }
    S.alerts.set(rec.alert_id, rec);
    S.dirty.alerts = true;
  }
  /** Applies one lifecycle event of an `update`. */
  function applyAlertEvent(e, now) {
    if (!e || typeof e !== 'object' || e.event === 'suppressed') return;
    putAlert(e.alert, now);
  }
  /** Drops resolved alerts after CFG.resolvedAlertMs (and beyond CFG.maxResolvedAlerts). */
  function pruneAlerts(now) {
    const resolved = [];
    for (const [id, a] of S.alerts) {
      if (a.state !== 'resolved') continue;
      const at = num(a._resolvedAt) ?? now;
      if (now - at > CFG.resolvedAlertMs) { S.alerts.delete(id); S.dirty.alerts = true; }
      else resolved.push([id, at]);
    }
    if (resolved.length > CFG.maxResolvedAlerts) {
      resolved.sort((a, b) => a[1] - b[1]);
      for (const [id] of resolved.slice(0, resolved.length - CFG.maxResolvedAlerts)) S.alerts.delete(id);
      S.dirty.alerts = true;
    }
  }
  const LEVEL_RANK = { page: 1, notify: 0 };
  const alertResolvedAt = (a) => num(a.resolved_ms) ?? num(a._resolvedAt) ?? 0;
  /** Open first (page, then critical, then newest), then resolved (newest first). */
  function alertOrder(a, b) {
    const ao = a.state !== 'resolved', bo = b.state !== 'resolved';
    if (ao !== bo) return ao ? -1 : 1;
    let d;
    if (ao) {
      d = (LEVEL_RANK[b.level] || 0) - (LEVEL_RANK[a.level] || 0)
        || STATE_RANK[sevOf(b.severity)] - STATE_RANK[sevOf(a.severity)]
        || (num(b.fired_ms) || 0) - (num(a.fired_ms) || 0);
    } else {
      d = alertResolvedAt(b) - alertResolvedAt(a);
    }
    return d || natural(a.alert_id, b.alert_id);
  }

  function applySnapshot(m) {
    const now = Date.now();
    const zones = Array.isArray(m.zones) && m.zones.length ? m.zones.map(str) : null;
    const scope = zones ? new Set(zones) : null;
    const inScope = (z) => scope === null || scope.has(z);
    const seen = new Set();
    for (const s of arr(m.sensors)) {
      upsertSensor(s, false, now);
      if (s && typeof s.sensor_id === 'string') seen.add(s.sensor_id);
    }
    for (const [id, s] of S.sensors) {
      if (seen.has(id)) continue;
      if (inScope(s.zone)) { S.sensors.delete(id); S.series.delete(id); S.dirty.membership = true; }
      else s._live = false; // kept for display; not updated until subscribed again
    }
    for (const [k, x] of S.incidents) if (inScope(x.zone)) S.incidents.delete(k);
    for (const i of arr(m.incidents)) putIncident(i);
    addAnomalies(m.anomalies);
    // Open alerts of the subscribed zones are replaced; resolved ones stay until they expire.
    for (const [id, a] of S.alerts) if (a.state !== 'resolved' && inScope(a.zone)) S.alerts.delete(id);
    for (const a of arr(m.alerts)) putAlert(a, now);
    S.scope = zones;
    if (!zones) S.fullSync = true;
    Alerts.first = true; // rows that arrive with a snapshot are not highlighted as new
    S.dirty.all = true;
    S.dirty.alerts = true;
  }

  function applyUpdate(m) {
    const now = Date.now();
    const list = arr(m.sensors);
    for (const s of list) upsertSensor(s, true, now);
    Metrics.updates(list.length);
    addAnomalies(m.anomalies);
    for (const i of arr(m.incidents)) putIncident(i);
    for (const e of arr(m.alerts)) applyAlertEvent(e, now);
  }

  /** Per-zone counts: live sensors where known, else the REST summary. */
  function zoneSummaries(now) {
    const out = new Map();
    const get = (z) => {
      let e = out.get(z);
      if (!e) out.set(z, (e = { zone: z, sensors: 0, ok: 0, warning: 0, critical: 0, stale: 0, incident: null, fromRest: false }));
      return e;
    };
    for (const [z, list] of zoneIndex()) {
      const e = get(z);
      for (const s of list) {
        e.sensors++;
        const sev = sevOf(s.severity);
        if (sev !== 'ok') e[sev]++;
        if (isStale(s, now)) e.stale++;
        else if (sev === 'ok') e.ok++;
      }
    }
    if (!S.fullSync) {
      for (const r of S.restZones.values()) {
        if (out.has(r.zone)) continue;
        const e = get(r.zone);
        e.fromRest = true;
        e.sensors = num(r.sensors) || 0;
        e.warning = num(r.warning) || 0;
        e.critical = num(r.critical) || 0;
        e.ok = Math.max(0, e.sensors - e.warning - e.critical);
        if (r.open_incident) e.incident = { zone: r.zone, open: true, _placeholder: true };
      }
    }
    for (const i of openIncidents()) { const e = get(i.zone); if (!e.incident || e.incident._placeholder) e.incident = i; }
    for (const e of out.values()) {
      e.state = e.incident || e.critical ? 'critical' : e.warning ? 'warning'
        : e.sensors === 0 || (!e.fromRest && e.stale === e.sensors) ? 'stale' : 'ok';
    }
    return Array.from(out.values()).sort((a, b) => natural(a.zone, b.zone));
  }

  // ─────────────────────────────────────────────────────────── metrics ──

  const Metrics = {
    msgs: 0, upds: 0, buckets: [],
    lat: new Float64Array(CFG.latencySamples), latN: 0, latI: 0,
    msg() { this.msgs++; },
    updates(n) { this.upds += n; },
    latency(ms) {
      this.lat[this.latI] = ms;
      this.latI = (this.latI + 1) % this.lat.length;
      if (this.latN < this.lat.length) this.latN++;
    },
    roll(now) {
      this.buckets.push({ t: now, m: this.msgs, u: this.upds });
      this.msgs = 0; this.upds = 0;
      while (this.buckets.length > CFG.rateWindowS + 1) this.buckets.shift();
    },
    rates() {
      const b = this.buckets;
      if (b.length < 2) return null;
      const span = (b[b.length - 1].t - b[0].t) / 1000;
      let m = 0, u = 0;
      for (let i = 1; i < b.length; i++) { m += b[i].m; u += b[i].u; }
      return span > 0 ? { msgs: m / span, upds: u / span } : null;
    },
    p50() {
      if (!this.latN) return null;
      const a = Array.from(this.lat.subarray(0, this.latN)).sort((x, y) => x - y);
      const mid = a.length >> 1;
      return a.length % 2 ? a[mid] : (a[mid - 1] + a[mid]) / 2;
    },
  };

  // ──────────────────────────────────────────────────────────────── REST ──

  class ApiError extends Error {
    constructor(error, detail, status) {
      super(detail ? `${error}: ${detail}` : error);
      this.error = error; this.detail = detail || ''; this.status = status || 0;
    }
  }
  // ───────────────────────────────────────────────────────── session ──

  /* Who is signed in: the token (sessionStorage) and what /api/me says. */
  const Session = {
    key: 'weir.token',
    me: null,
    token() { try { return sessionStorage.getItem(this.key) || ''; } catch (_) { return ''; } },
    headers(h) { const t = this.token(); if (t) h.Authorization = `Bearer ${t}`; return h; },
    canAck() { return !!this.me && (this.me.role === 'operator' || this.me.role === 'admin'); },
    /** Resolves once a token (or none, when the server needs none) is accepted. */
    async start() {
      for (;;) {
        let res = null;
        try { res = await fetch('/api/me', { headers: this.headers({ Accept: 'application/json' }), cache: 'no-store' }); } catch (_) { res = null; }
        if (res && res.ok) {
          this.me = await res.json();
          this.show();
          return;
        }
        let detail = 'the server could not be reached';
        if (res) { try { detail = str((await res.json()).detail) || `HTTP ${res.status}`; } catch (_) { detail = `HTTP ${res.status}`; } }
        if (res && res.status !== 401) { await sleep(3000); continue; }
        const hadToken = !!this.token();
        try { sessionStorage.removeItem(this.key); } catch (_) { /* private mode */ }
        await this.ask(hadToken ? detail : '');
      }
    },
    /** Shows the sign-in form until a token is submitted. */
    ask(error) {
      const form = document.getElementById('signin');
      const input = document.getElementById('signin-token');
      const err = document.getElementById('signin-error');
      form.hidden = false;
      document.body.classList.add('signed-out');
      setText(err, error ? `Not signed in: ${error}` : '');
      err.hidden = !error;
      input.value = '';
      input.focus();
      return new Promise((resolve) => {
        form.onsubmit = (ev) => {
          ev.preventDefault();
          const token = input.value.trim();
          if (!token) return;
          try { sessionStorage.setItem(this.key, token); } catch (_) { /* private mode */ }
          form.hidden = true;
          document.body.classList.remove('signed-out');
          resolve();
        };
      });
    },
    show() {
      const who = document.getElementById('who');
      if (!who) return;
      const me = this.me || {};
      who.dataset.role = str(me.role);
      const zones = arr(me.zones);
      setText(who.querySelector('.who-name'), str(me.name));
      setText(who.querySelector('.who-role'), zones.length ? `${str(me.role)} · ${zones.join(', ')}` : str(me.role));
      who.hidden = me.token_id === '-';
    },
    /** A token that stopped working (revoked, expired): sign in again. */
    lost() {
      try { sessionStorage.removeItem(this.key); } catch (_) { /* private mode */ }
      location.reload();
    },
  };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  /** GET (or, with opts {method, body}, a JSON request) returning the parsed JSON body. */
  async function api(path, signal, opts) {
    let res;
    const init = { signal, headers: Session.headers({ Accept: 'application/json' }), cache: 'no-store' };
    if (opts && opts.method) init.method = opts.method;
    if (opts && opts.body !== undefined) {
      init.body = JSON.stringify(opts.body);
      init.headers['Content-Type'] = 'application/json';
    }
    try {
      res = await fetch(path, init);
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      throw new ApiError('network error', 'the server could not be reached', 0);
    }
    if (res.status === 401 && Session.me && Session.me.token_id !== '-') Session.lost();
    const text = await res.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (_) { body = undefined; }
    if (!res.ok) {
      const b = body && typeof body === 'object' ? body : {};
      throw new ApiError(str(b.error) || `HTTP ${res.status}`, str(b.detail) || (body === undefined ? text.slice(0, 200) : res.statusText), res.status);
    }
    if (body === undefined) throw new ApiError('invalid response', 'the server did not answer with JSON', res.status);
    return body;
  }

  /* The pipeline-health panel: GET /health (200 ok, 503 degraded or
   * unavailable, both with a JSON body naming the reasons). */
  const Health = {
    async run() {
      let body = null;
      try {
        const res = await fetch('/health', { headers: Session.headers({ Accept: 'application/json' }), cache: 'no-store' });
        body = await res.json();
      } catch (_) { body = null; }
      renderHealth(body);
    },
  };

  function renderHealth(b) {
    const box = document.getElementById('health');
    if (!box) return;
    const state = b && ['ok', 'degraded', 'unavailable'].includes(b.status) ? b.status : 'unknown';
    box.dataset.state = state;
    const label = { ok: 'Healthy', degraded: 'Degraded', unavailable: 'Unavailable', unknown: 'Not reachable' }[state];
    const rows = [h('div', { class: 'health-state' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), label)];
    if (b) {
      const age = num(b.last_commit_age_seconds);
      rows.push(h('div', { class: 'health-row' }, 'Last commit ', h('b', null, age === null ? '–' : `${age.toFixed(1)} s ago`)));
      const lag = num(b.consumer_lag);
      rows.push(h('div', { class: 'health-row' }, 'Consumer lag ', h('b', null, lag === null ? '–' : intFmt.format(lag))));
      const outbox = b.outbox && typeof b.outbox === 'object' ? Object.entries(b.outbox) : [];
      const waiting = outbox.reduce((n, [, v]) => n + (num(v && v.waiting) || 0), 0);
      rows.push(h('div', { class: 'health-row' }, 'Alerts waiting ', h('b', null, intFmt.format(waiting))));
      rows.push(h('div', { class: 'health-row' }, 'Broker ', h('b', null, str(b.broker)), ' · database ', h('b', null, str(b.database))));
      for (const reason of arr(b.reasons)) rows.push(h('div', { class: 'health-reason' }, str(reason)));
      if (b.heartbeat && typeof b.heartbeat === 'object') rows.push(...heartbeatRows(b.heartbeat));
    }
    box.replaceChildren(...rows);
  }

  /* The outside heartbeat (server.heartbeat_url): its status, then one row
   * per path (how its readings go in: http, mqtt, kafka) with the latest
   * end-to-end time of each check (where they are looked for: ws, rest,
   * postgres), and what fails. */
  function heartbeatRows(hb) {
    const checks = arr(hb.checks).filter((c) => c && typeof c === 'object');
    const passing = checks.filter((c) => c.ok === true).length;
    const rows = [h('div', { class: 'health-row', 'data-heartbeat': str(hb.status) },
      'Heartbeat ', h('b', null, str(hb.status) || '–'),
      checks.length ? ` · ${passing}/${checks.length} probes pass` : '')];
    const paths = [...new Set(checks.map((c) => str(c.path)))];
    for (const path of paths) {
      const mine = checks.filter((c) => str(c.path) === path);
      const ok = mine.every((c) => c.ok === true);
      const times = mine.map((c) => {
        const ms = num(c.last_e2e_ms);
        return `${str(c.check)} ${ms === null ? '–' : `${Math.round(ms)} ms`}`;
      });
      rows.push(h('div', { class: 'health-row', 'data-hb-path': path, 'data-ok': String(ok) },
        `${path} → `, h('b', null, ok ? 'ok' : 'failing'), ` · ${times.join(' · ')}`));
    }
    if (hb.error) rows.push(h('div', { class: 'health-reason' }, `heartbeat: ${str(hb.error)}`));
    const incident = hb.incident && typeof hb.incident === 'object' ? hb.incident : null;
    if (incident) for (const reason of arr(incident.reasons)) rows.push(h('div', { class: 'health-reason' }, `heartbeat: ${str(reason)}`));
    return rows;
  }

  const Poll = {
    busy: false,
    /** REST is needed while the socket is down or narrowed to some zones. */
    needed() { return !(Conn.synced && S.scope === null); },
    async run(force) {
      if (this.busy || (!force && !this.needed())) return;
      this.busy = true;
      try {
        await Promise.all([this.zones(), this.alerts(), force ? null : this.anomalies()]);
      } finally { this.busy = false; }
    },
    async zones() {
      let rows;
      try { rows = await api('/api/zones'); } catch (_) { return; }
      S.restZones = new Map();
      for (const r of arr(rows)) if (r && typeof r.zone === 'string') S.restZones.set(r.zone, r);
      // Reconcile incidents of zones the socket does not cover.
      const live = (z) => Conn.synced && (S.scope === null || S.scope.includes(z));
      for (const r of S.restZones.values()) {
        if (live(r.zone)) continue;
        const open = openIncidents(r.zone);
        if (!r.open_incident) {
          for (const [k, x] of S.incidents) if (x.zone === r.zone && x.open !== false) S.incidents.delete(k);
        } else if (!open.length) {
          S.incidents.set(`${r.zone}|rest`, { zone: r.zone, open: true, _placeholder: true });
        }
      }
      S.dirty.all = true; S.dirty.alerts = true;
      schedule();
    },
    async anomalies() {
      const newest = S.anomalies.length ? num(S.anomalies[0].ts) : null;
      const since = newest !== null ? newest - 60e3 : Date.now() - 30 * 60e3;
      try { addAnomalies(await api(`/api/anomalies?since=${Math.floor(since)}`)); } catch (_) { return; }
      schedule();
    },
    /** Open alerts of the zones the socket does not cover (an older server has none: ignored). */
    async alerts() {
      const limit = 1000;
      let rows;
      try { rows = await api(`/api/alerts?state=open&limit=${limit}`); } catch (_) { return; }
      if (!Array.isArray(rows)) return;
      const live = (z) => Conn.synced && (S.scope === null || S.scope.includes(z));
      const now = Date.now();
      const seen = new Set();
      for (const a of rows) {
        if (!a || typeof a !== 'object' || typeof a.alert_id !== 'string' || live(str(a.zone))) continue;
        seen.add(a.alert_id);
        const known = S.alerts.get(a.alert_id);
        if (known && known.state === 'resolved') continue; // resolved is final (a new firing has a new id)
        putAlert(a, now);
      }
      if (rows.length < limit) {
        // No longer open: it resolved while only REST was watching its zone.
        for (const [id, a] of S.alerts) {
          if (a.state === 'resolved' || seen.has(id) || live(a.zone)) continue;
          putAlert(Object.assign({}, a, { state: 'resolved' }), now);
        }
      }
      S.dirty.alerts = true;
      schedule();
    },
  };

  // ───────────────────────────────────────────────────────── WebSocket ──

  const zonesKey = (z) => (z || []).slice().sort().join('\u0000');

  const Conn = {
    ws: null,
    state: 'connecting',     // connecting | connected | reconnecting
    synced: false,           // a snapshot arrived on the current socket
    syncedAt: 0,
    everSynced: false,
    attempt: 0,
    retryAt: 0,
    timer: 0,
    reason: '',
    want: [],                // desired zones ([] = all)
    sent: null,              // zones the server was last asked for on this socket
    opened: false,           // the current socket reached OPEN
    lastSeq: -Infinity,

    url() {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const q = this.want.map((z) => `zone=${enc(z)}`).join('&');
      return `${proto}//${location.host}/ws${q ? `?${q}` : ''}`;
    },
    connect() {
      clearTimeout(this.timer); this.timer = 0;
      let ws;
      // Browsers cannot set headers on a WebSocket: the token goes as a protocol.
      const token = Session.token();
      try { ws = token ? new WebSocket(this.url(), ['weir', `bearer.${token}`]) : new WebSocket(this.url()); } catch (e) { this.closed(null); return; }
      this.ws = ws;
      this.opened = false;
      this.synced = false;
      this.lastSeq = -Infinity;
      this.sent = this.want.slice();
      this.setState(this.everSynced || this.attempt > 0 ? 'reconnecting' : 'connecting');
      ws.onopen = () => {
        if (this.ws !== ws) return;
        this.opened = true;
        this.reason = '';
        if (zonesKey(this.sent) !== zonesKey(this.want)) this.subscribe();
        Header.render(Date.now());
      };
      ws.onmessage = (ev) => { if (this.ws === ws) onMessage(ev.data); };
      ws.onerror = () => {};
      ws.onclose = (ev) => { if (this.ws === ws) this.closed(ev); };
    },
    closed(ev) {
      const wasStable = this.synced && Date.now() - this.syncedAt > CFG.stableAfterMs;
      this.ws = null;
      this.synced = false;
      if (wasStable) this.attempt = 0;
      const delay = Math.min(CFG.backoffBaseMs * 2 ** this.attempt, CFG.backoffMaxMs);
      this.attempt = Math.min(this.attempt + 1, 10);
      if (ev && ev.code === 4001) this.reason = 'slow consumer';
      else if (ev && ev.code && ev.code !== 1000 && ev.code !== 1005 && ev.code !== 1006) this.reason = `closed ${ev.code}${ev.reason ? `: ${ev.reason}` : ''}`;
      else if (this.opened) this.reason = 'connection lost';
      else if (!this.reason) this.reason = 'server unreachable';
      // (a retry that never opened keeps the reason of the first failure)
      this.opened = false;
      this.retryAt = Date.now() + delay;
      this.timer = setTimeout(() => this.connect(), delay);
      this.setState('reconnecting');
      Poll.run();
    },
    subscribe() {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      try {
        this.ws.send(JSON.stringify({ type: 'subscribe', zones: this.want }));
        this.sent = this.want.slice();
      } catch (_) { /* the close handler reconnects */ }
    },
    /** Sets the zones to follow ([] = all); sends `subscribe` if connected. */
    setWant(zones) {
      const want = Array.from(new Set(arr(zones).filter((z) => typeof z === 'string' && z))).sort(natural);
      if (zonesKey(want) === zonesKey(this.want)) return;
      this.want = want;
      if (this.ws && this.ws.readyState === WebSocket.OPEN && zonesKey(this.sent) !== zonesKey(want)) this.subscribe();
    },
    onSnapshot() {
      if (!this.synced) this.syncedAt = Date.now();
      this.synced = true;
      this.everSynced = true;
      this.reason = '';
      this.setState('connected');
    },
    setState(st) {
      this.state = st;
      document.body.classList.toggle('offline', st !== 'connected' && this.everSynced);
      Header.render(Date.now());
    },
  };

  function onMessage(data) {
    if (typeof data !== 'string') return;
    let m;
    try { m = JSON.parse(data); } catch (_) { return; }
    if (!m || typeof m !== 'object') return;
    Metrics.msg();
    const seq = num(m.seq);
    if (m.type === 'snapshot') {
      if (seq !== null) Conn.lastSeq = seq;
      applySnapshot(m);
      Conn.onSnapshot();
    } else if (m.type === 'update') {
      if (seq !== null) {
        if (seq <= Conn.lastSeq) return; // duplicate or out of order
        Conn.lastSeq = seq;
      }
      applyUpdate(m);
    } else {
      return; // unknown message types are ignored
    }
    schedule();
  }

  // ──────────────────────────────────────────────────────────── charts ──

  let PALETTE = null;
  function palette() {
    if (PALETTE) return PALETTE;
    const cs = getComputedStyle(document.documentElement);
    const v = (n, d) => (cs.getPropertyValue(n) || '').trim() || d;
    PALETTE = {
      ok: v('--ok', '#22c7a9'), warning: v('--warn', '#ffb020'), critical: v('--crit', '#ff4d5e'),
      stale: v('--stale', '#7d8a97'), accent: v('--accent', '#4ea8ff'),
      grid: v('--chart-grid', 'rgba(255,255,255,0.07)'), axis: v('--muted', '#8593a1'),
      text: v('--text', '#e8eef4'), panel: v('--panel', '#121922'),
      font: (getComputedStyle(document.body).fontFamily || 'sans-serif'),
    };
    return PALETTE;
  }
  function rgba(hex, a) {
    const m = /^#([0-9a-f]{6})$/i.exec(str(hex).trim());
    if (!m) return hex;
    const n = parseInt(m[1], 16);
    return `rgba(${n >> 16},${(n >> 8) & 255},${n & 255},${a})`;
  }

  function prepCanvas(cv) {
    const w = cv.clientWidth, hh = cv.clientHeight;
    if (!w || !hh) return null;
    const dpr = clamp(window.devicePixelRatio || 1, 1, 3);
    const W = Math.round(w * dpr), H = Math.round(hh * dpr);
    if (cv.width !== W || cv.height !== H) { cv.width = W; cv.height = H; }
    const ctx = cv.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hh);
    return { ctx, w, h: hh };
  }

  function niceStep(raw) {
    if (!(raw > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
  }
  function decimalsFor(step) {
    let d = 0;
    while (d < 6 && Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) > 1e-6 * 10 ** d) d++;
    return d;
  }
  function yTicks(lo, hi, count) {
    const step = niceStep((hi - lo) / Math.max(1, count));
    const out = [];
    for (let v = Math.ceil(lo / step - 1e-9) * step, i = 0; v <= hi + step * 1e-9 && i < 50; v += step, i++) {
      out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    }
    const d = decimalsFor(step);
    return { ticks: out, label: (v) => (Math.abs(v) >= 1e6 ? v.toExponential(1) : v.toFixed(d)) };
  }

  const T_STEPS = [1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3,
    3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3, 2 * 86400e3, 7 * 86400e3];
  function timeTicks(x0, x1, px, minGap) {
    const span = x1 - x0;
    const max = Math.max(1, Math.floor(px / minGap));
    let step = T_STEPS[T_STEPS.length - 1];
    for (const s of T_STEPS) if (span / s <= max) { step = s; break; }
    const out = [];
    if (step < 86400e3) {
      const off = -new Date(x0).getTimezoneOffset() * 60e3; // align to local time
      for (let t = Math.ceil((x0 + off) / step) * step - off, i = 0; t <= x1 && i < 100; t += step, i++) out.push(t);
    } else {
      const d = new Date(x0);
      d.setHours(0, 0, 0, 0);
      while (d.getTime() < x0) d.setDate(d.getDate() + 1);
      for (let i = 0; d.getTime() <= x1 && i < 100; i++) { out.push(d.getTime()); d.setDate(d.getDate() + step / 86400e3); }
    }
    const label = (t) => {
      const d = new Date(t);
      const md = `${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
      if (step >= 86400e3) return md;
      if (step < 60e3) return fmtClock(t);
      return d.getHours() === 0 && d.getMinutes() === 0 && span > 86400e3 / 2 ? md : `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
    };
    return { ticks: out, label };
  }

  /** Index ranges [a, b] without gaps longer than gapMs. */
  function segments(t, ok, gapMs) {
    const out = [];
    let a = -1, prev = -1;
    for (let i = 0; i < t.length; i++) {
      if (!ok(i)) continue;
      if (a < 0) a = i;
      else if (t[i] - t[prev] > gapMs) { out.push([a, prev]); a = i; }
      prev = i;
    }
    if (a >= 0) out.push([a, prev]);
    return out;
  }
  function autoGap(t) {
    if (t.length < 3) return Infinity;
    const d = [];
    const stride = Math.max(1, Math.floor(t.length / 300));
    for (let i = stride; i < t.length; i += stride) d.push((t[i] - t[i - stride]) / stride);
    d.sort((a, b) => a - b);
    const med = d[d.length >> 1];
    return med > 0 ? Math.max(med * 5, 1000) : Infinity;
  }

  /**
   * Draws a time-series chart.
   * o = { lines: [{t, v, color, width, fill, dot}], band: {t, lo, hi, color},
   *       markers: [{t, v, color}], refs: [{v, color}], x0, x1, compact,
   *       hover: {t, pts: [{v, color}]}, emptyText }
   * Returns the layout (scales) for hit-testing, or null.
   */
  function drawChart(cv, o) {
    const p = prepCanvas(cv);
    if (!p) return null;
    const { ctx, w, h: hh } = p;
    const P = palette();
    const compact = !!o.compact;
    const fontPx = compact ? 10 : 12;
    ctx.font = `${fontPx}px ${P.font}`;
    const lines = o.lines || [];
    let x0 = num(o.x0), x1 = num(o.x1);
    const fixedX = x0 !== null && x1 !== null;
    let lo = Infinity, hi = -Infinity, tmin = Infinity, tmax = -Infinity;
    const scan = (t, v) => {
      for (let i = 0; i < t.length; i++) {
        const tv = t[i], vv = v[i];
        if (vv == null || !Number.isFinite(vv)) continue;
        if (fixedX && (tv < x0 || tv > x1)) continue;
        if (vv < lo) lo = vv;
        if (vv > hi) hi = vv;
        if (tv < tmin) tmin = tv;
        if (tv > tmax) tmax = tv;
      }
    };
    for (const L of lines) scan(L.t, L.v);
    if (o.band) { scan(o.band.t, o.band.lo); scan(o.band.t, o.band.hi); }
    const markers = (o.markers || []).filter((m) => num(m.v) !== null && (!fixedX || (m.t >= x0 && m.t <= x1)));
    for (const m of markers) { lo = Math.min(lo, m.v); hi = Math.max(hi, m.v); }
    if (!Number.isFinite(lo)) {
      ctx.fillStyle = P.axis;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(o.emptyText || 'No data', w / 2, hh / 2);
      return null;
    }
    if (!fixedX) { x0 = tmin; x1 = tmax; }
    if (!(x1 > x0)) { x0 -= 30e3; x1 += 30e3; }
    if (hi - lo < 1e-9 * Math.max(1, Math.abs(hi))) {
      const d = Math.max(Math.abs(hi) * 0.01, 0.5);
      lo -= d; hi += d;
    } else {
      const d = (hi - lo) * (compact ? 0.12 : 0.08);
      lo -= d; hi += d;
    }
    const padT = compact ? 4 : 10, padB = compact ? 14 : 24;
    const yt = yTicks(lo, hi, compact ? 2 : Math.max(2, Math.floor((hh - padT - padB) / 48)));
    let padL = 0;
    if (!compact) for (const v of yt.ticks) padL = Math.max(padL, ctx.measureText(yt.label(v)).width);
    padL = compact ? 0 : Math.ceil(padL) + 10;
    const padR = compact ? 0 : 14;
    const L = padL, T = padT, W = w - padL - padR, H = hh - padT - padB;
    if (W < 20 || H < 10) return null;
    const xOf = (t) => L + ((t - x0) / (x1 - x0)) * W;
    const yOf = (v) => T + (1 - (v - lo) / (hi - lo)) * H;

    // grid and y labels
    ctx.lineWidth = 1;
    ctx.strokeStyle = P.grid;
    ctx.fillStyle = P.axis;
    for (const v of yt.ticks) {
      const y = Math.round(yOf(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(L + W, y); ctx.stroke();
      if (compact) {
        if (y - fontPx - 1 < T) continue;
        ctx.textAlign = 'left'; ctx.textBaseline = 'bottom';
        ctx.fillText(yt.label(v), L + 2, y - 1);
      } else {
        ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
        ctx.fillText(yt.label(v), L - 8, y);
      }
    }
    // time axis
    const tt = timeTicks(x0, x1, W, compact ? 70 : 100);
    ctx.textBaseline = 'top';
    ctx.textAlign = 'center';
    for (const t of tt.ticks) {
      const x = Math.round(xOf(t)) + 0.5;
      if (!compact) {
        ctx.strokeStyle = P.grid;
        ctx.beginPath(); ctx.moveTo(x, T); ctx.lineTo(x, T + H); ctx.stroke();
      }
      const label = tt.label(t);
      const tw = ctx.measureText(label).width;
      const cx = clamp(x, L + tw / 2, L + W - tw / 2);
      ctx.fillStyle = P.axis;
      ctx.fillText(label, cx, T + H + (compact ? 2 : 7));
    }
    if (!compact) {
      ctx.strokeStyle = rgba(P.axis, 0.45) || P.axis;
      ctx.beginPath(); ctx.moveTo(L, T + H + 0.5); ctx.lineTo(L + W, T + H + 0.5); ctx.stroke();
    }

    ctx.save();
    ctx.beginPath(); ctx.rect(L, T - 2, W, H + 4); ctx.clip();

    // reference lines
    for (const r of o.refs || []) {
      if (num(r.v) === null || r.v < lo || r.v > hi) continue;
      const y = Math.round(yOf(r.v)) + 0.5;
      ctx.setLineDash([4, 4]);
      ctx.strokeStyle = r.color || P.axis;
      ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(L + W, y); ctx.stroke();
      ctx.setLineDash([]);
    }
    // min/max band
    if (o.band) {
      const b = o.band;
      const gap = num(b.gapMs) || autoGap(b.t);
      ctx.fillStyle = b.color || rgba(P.accent, 0.2);
      for (const [a, z] of segments(b.t, (i) => num(b.lo[i]) !== null && num(b.hi[i]) !== null, gap)) {
        ctx.beginPath();
        if (a === z) {
          const x = xOf(b.t[a]);
          ctx.rect(x - 1.5, yOf(b.hi[a]), 3, Math.max(1, yOf(b.lo[a]) - yOf(b.hi[a])));
        } else {
          ctx.moveTo(xOf(b.t[a]), yOf(b.hi[a]));
          for (let i = a + 1; i <= z; i++) if (num(b.hi[i]) !== null) ctx.lineTo(xOf(b.t[i]), yOf(b.hi[i]));
          for (let i = z; i >= a; i--) if (num(b.lo[i]) !== null) ctx.lineTo(xOf(b.t[i]), yOf(b.lo[i]));
          ctx.closePath();
        }
        ctx.fill();
      }
    }
    // lines
    for (const Ln of lines) {
      const gap = num(Ln.gapMs) || autoGap(Ln.t);
      const ok = (i) => Ln.v[i] != null && Number.isFinite(Ln.v[i]);
      const segs = segments(Ln.t, ok, gap);
      const color = Ln.color || P.accent;
      if (Ln.fill) {
        const grad = ctx.createLinearGradient(0, T, 0, T + H);
        grad.addColorStop(0, rgba(color, 0.28));
        grad.addColorStop(1, rgba(color, 0.0));
        ctx.fillStyle = grad;
        for (const [a, z] of segs) {
          if (a === z) continue;
          ctx.beginPath();
          ctx.moveTo(xOf(Ln.t[a]), T + H);
          for (let i = a; i <= z; i++) if (ok(i)) ctx.lineTo(xOf(Ln.t[i]), yOf(Ln.v[i]));
          ctx.lineTo(xOf(Ln.t[z]), T + H);
          ctx.closePath();
          ctx.fill();
        }
      }
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.lineWidth = Ln.width || 1.5;
      ctx.lineJoin = 'round';
      ctx.lineCap = 'round';
      for (const [a, z] of segs) {
        if (a === z) {
          ctx.beginPath(); ctx.arc(xOf(Ln.t[a]), yOf(Ln.v[a]), Math.max(1.5, ctx.lineWidth), 0, 2 * Math.PI); ctx.fill();
          continue;
        }
        ctx.beginPath();
        ctx.moveTo(xOf(Ln.t[a]), yOf(Ln.v[a]));
        for (let i = a + 1; i <= z; i++) if (ok(i)) ctx.lineTo(xOf(Ln.t[i]), yOf(Ln.v[i]));
        ctx.stroke();
      }
      if (Ln.dot && segs.length) {
        const i = segs[segs.length - 1][1];
        ctx.beginPath(); ctx.arc(xOf(Ln.t[i]), yOf(Ln.v[i]), 3, 0, 2 * Math.PI); ctx.fill();
      }
    }
    // markers (anomalies)
    for (const m of markers) {
      ctx.beginPath();
      ctx.arc(xOf(m.t), yOf(m.v), compact ? 3 : 4.5, 0, 2 * Math.PI);
      ctx.fillStyle = m.color || P.critical;
      ctx.fill();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = P.panel;
      ctx.stroke();
    }
    // hover crosshair
    if (o.hover && num(o.hover.t) !== null) {
      const x = Math.round(xOf(o.hover.t)) + 0.5;
      ctx.strokeStyle = rgba(P.text, 0.5) || P.text;
      ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(x, T); ctx.lineTo(x, T + H); ctx.stroke();
      for (const pt of o.hover.pts || []) {
        if (num(pt.v) === null) continue;
        ctx.beginPath(); ctx.arc(x, yOf(pt.v), 4, 0, 2 * Math.PI);
        ctx.fillStyle = pt.color || P.accent; ctx.fill();
        ctx.lineWidth = 2; ctx.strokeStyle = P.panel; ctx.stroke();
      }
    }
    ctx.restore();
    return { x0, x1, lo, hi, L, T, W, H, xOf, yOf, tOf: (x) => x0 + ((x - L) / W) * (x1 - x0) };
  }

  /** Index of the point nearest to t in the sorted array ts. */
  function nearest(ts, t) {
    let a = 0, b = ts.length - 1;
    if (b < 0) return -1;
    while (b - a > 1) { const m = (a + b) >> 1; if (ts[m] < t) a = m; else b = m; }
    return Math.abs(ts[a] - t) <= Math.abs(ts[b] - t) ? a : b;
  }

  // ─────────────────────────────────────────────────────────── header ──

  const Header = {
    el: null,
    init() {
      this.status = document.getElementById('status');
      this.statusText = this.status.querySelector('.status-text');
      this.rate = document.getElementById('m-rate');
      this.upd = document.getElementById('m-upd');
      this.lat = document.getElementById('m-lat');
      this.latBox = document.getElementById('m-lat-box');
      this.sensors = document.getElementById('m-sensors');
      this.clock = document.getElementById('clock');
      this.crumbs = document.getElementById('crumbs');
      this.banner = document.getElementById('conn-banner');
    },
    render(now) {
      if (!this.status) return;
      const st = Conn.state;
      setAttr(this.status, 'data-state', st);
      let text;
      if (st === 'connected') text = S.scope ? `Live · ${S.scope.join(', ')}` : 'Live · all zones';
      else if (st === 'connecting') text = 'Connecting…';
      else {
        const left = Math.ceil((Conn.retryAt - now) / 1000);
        text = Conn.ws ? 'Reconnecting…' : `Reconnecting in ${Math.max(0, left)} s`;
        if (Conn.reason) text += ` · ${Conn.reason}`;
      }
      setText(this.statusText, text);
      setAttr(this.status, 'title', st === 'connected' ? `WebSocket connected since ${fmtClock(Conn.syncedAt)}` : text);
      if (this.banner) {
        const show = st !== 'connected' && Conn.everSynced;
        this.banner.hidden = !show;
        const left = Math.max(0, Math.ceil((Conn.retryAt - now) / 1000));
        if (show) {
          setText(this.banner.querySelector('.banner-text'),
            `Live connection lost${Conn.reason ? ` (${Conn.reason})` : ''} — values shown may be out of date. ${Conn.ws ? 'Reconnecting…' : `Retrying in ${left} s.`}`);
        }
      }
      const r = Metrics.rates();
      setText(this.rate, r ? (r.msgs < 10 ? r.msgs.toFixed(1) : fmtInt(r.msgs)) : '–');
      setText(this.upd, r ? fmtInt(r.upds) : '–');
      const p = Metrics.p50();
      setText(this.lat, p === null ? '–' : fmtInt(p));
      setClass(this.latBox, `hstat${p === null ? '' : p > 5000 ? ' is-critical' : p > 1000 ? ' is-warning' : ''}`);
      setAttr(this.latBox, 'title', `p50 of Date.now() − ingest_ts over the last ${Metrics.latN} sensor updates`);
      setText(this.sensors, fmtInt(S.sensors.size));
      setText(this.clock, fmtClock(now));
    },
    setCrumbs(parts) {
      this.crumbs.replaceChildren(...parts.flatMap((p, i) => {
        const el = p.href ? h('a', { href: p.href }, p.text) : h('span', { class: 'current' }, p.text);
        return i ? [h('span', { class: 'sep', 'aria-hidden': 'true' }, '›'), el] : [el];
      }));
    },
  };

  // ───────────────────────────────────────────────────────────── alerts ──

  /** Makes `nodes` the children of `parent`, in order, moving as little as possible. */
  function placeChildren(parent, nodes) {
    let prev = null;
    for (const node of nodes) {
      const want = prev ? prev.nextSibling : parent.firstChild;
      if (want !== node) parent.insertBefore(node, want);
      prev = node;
    }
    while (prev && prev.nextSibling) prev.nextSibling.remove();
  }

  const Alerts = {
    init() {
      this.el = document.getElementById('alerts');
      this.incList = document.getElementById('incident-list');
      this.anList = document.getElementById('anomaly-list');
      this.incCount = document.getElementById('incident-count');
      this.anCount = document.getElementById('anomaly-count');
      this.scopeNote = document.getElementById('alerts-scope');
      this.alList = document.getElementById('alert-list');
      this.alCount = document.getElementById('alert-count');
      this.rows = new Map();
      this.alRows = new Map();   // alert_id -> { rec, sig, el, age }
      this.acks = new Map();     // alert_id -> { busy, ok, err } of an Ack sent from here
      this.anEmpty = h('div', { class: 'empty-row' }, 'No recent anomaly');
      this.alEmpty = h('div', { class: 'empty-row' }, 'No open alert');
      this.alMore = h('div', { class: 'alert-more' });
      this.first = true;
    },
    render(now) {
      if (this.alList) this.renderAlarms(now);
      const open = openIncidents();
      setText(this.incCount, open.length);
      this.incCount.className = `count${open.length ? ' is-critical' : ''}`;
      this.incList.replaceChildren(...(open.length ? open.map((i) => this.incidentRow(i, now))
        : [h('div', { class: 'empty-row' }, 'No open zone incident')]));
      this.el.classList.toggle('has-incident', open.length > 0);

      const list = S.anomalies;
      setText(this.anCount, list.length);
      const crit = list.some((a) => a.severity === 'critical');
      this.anCount.className = `count${list.length ? (crit ? ' is-critical' : ' is-warning') : ''}`;
      // Rows are keyed: a row is built once, so the "new" highlight plays once.
      const keep = new Map();
      const nodes = [];
      for (const a of list) {
        let r = this.rows.get(a._key);
        if (!r || r.rec !== a) r = { rec: a, el: this.anomalyRow(a, !this.first && !this.rows.has(a._key)) };
        keep.set(a._key, r);
        nodes.push(r.el);
      }
      this.rows = keep;
      if (!nodes.length) nodes.push(this.anEmpty);
      placeChildren(this.anList, nodes);
      this.first = false;
      setText(this.scopeNote, Conn.synced && S.scope ? 'other zones: REST, every 10 s' : Conn.synced ? '' : 'offline: REST, every 10 s');
    },
    renderAlarms(now) {
      const list = Array.from(S.alerts.values()).sort(alertOrder);
      const open = list.filter((a) => a.state !== 'resolved');
      setText(this.alCount, open.length);
      const crit = open.some((a) => sevOf(a.severity) === 'critical');
      this.alCount.className = `count${open.length ? (crit ? ' is-critical' : ' is-warning') : ''}`;
      this.el.classList.toggle('has-page', open.some((a) => a.level === 'page' && (str(a.status) || 'active') === 'active' && !str(a.acked_by)));
      // Keyed like the anomalies; a row is rebuilt when its alert or its ack state changes.
      const keep = new Map();
      const nodes = [];
      for (const a of list.slice(0, CFG.maxAlertRows)) {
        const id = a.alert_id;
        const ack = this.acks.get(id) || null;
        const sig = ack ? `${ack.busy ? 1 : 0}|${ack.ok ? 1 : 0}|${ack.err}` : '';
        let r = this.alRows.get(id);
        if (!r || r.rec !== a || r.sig !== sig) {
          const fresh = !this.first && !r && a.state !== 'resolved';
          r = Object.assign({ rec: a, sig }, this.alertRow(a, ack, fresh));
        }
        setText(r.age, this.alertAge(a, now));
        keep.set(id, r);
        nodes.push(r.el);
      }
      this.alRows = keep;
      for (const id of Array.from(this.acks.keys())) if (!S.alerts.has(id)) this.acks.delete(id);
      if (!nodes.length) nodes.push(this.alEmpty);
      if (list.length > CFG.maxAlertRows) {
        const rest = list.slice(CFG.maxAlertRows);
        const restOpen = rest.filter((a) => a.state !== 'resolved').length;
        setText(this.alMore, `+${rest.length} more` + (restOpen ? ` (${restOpen} open)` : ''));
        nodes.push(this.alMore);
      }
      placeChildren(this.alList, nodes);
    },
    alertAge(a, now) {
      if (a.state === 'resolved') return `resolved ${fmtAgo(alertResolvedAt(a) || null, now)}`;
      const f = num(a.fired_ms);
      return f === null ? '' : fmtDur(now - f);
    },
    alertRow(a, ack, fresh) {
      const sev = sevOf(a.severity);
      const open = a.state !== 'resolved';
      const status = str(a.status) || 'active';
      const zone = str(a.zone);
      const members = arr(a.members).map(str);
      const isZone = a.scope === 'zone' || typeof a.sensor_id !== 'string' || !a.sensor_id;
      const page = a.level === 'page';
      const acked = str(a.acked_by);
      const who = isZone
        ? h('a', { class: 'alert-who zone', href: `#/zone/${enc(zone)}`, title: members.join(', ') || null },
          `zone ${zone || '–'} (${members.length} sensor${members.length === 1 ? '' : 's'})`)
        : h('a', { class: 'alert-who', href: `#/sensor/${enc(a.sensor_id)}`, title: a.sensor_id }, a.sensor_id);
      const fired = num(a.fired_ms);
      const age = h('span', {
        class: 'alert-time',
        title: open ? `fired ${fmtDateTime(fired)}` : `fired ${fmtDateTime(fired)}, resolved ${fmtDateTime(num(a.resolved_ms))}`,
      });
      let action = null, err = null;
      if (open && !acked && Session.canAck()) {
        if (ack && ack.ok) {
          action = h('span', { class: 'ack-sent', title: 'The acknowledgement was accepted; “acked by” shows once the pipeline applies it' }, '✓ ack sent');
        } else {
          const busy = !!(ack && ack.busy);
          action = h('button', {
            type: 'button', class: 'ack-btn', disabled: busy, 'aria-busy': busy ? 'true' : null,
            title: `Acknowledge as “${str(Session.me && Session.me.name)}”`,
            onclick: (ev) => { ev.preventDefault(); ev.currentTarget.disabled = true; this.ack(a.alert_id); },
          }, busy ? 'Acking…' : 'Ack');
        }
        if (ack && ack.err && !ack.busy) err = h('div', { class: 'alert-err', role: 'alert' }, `Ack failed: ${ack.err}`);
      }
      const stTitle = status === 'silenced' && a.silence_id ? `silence ${str(a.silence_id)}`
        : status === 'grouped' && a.group_id ? `grouped into ${str(a.group_id)}` : null;
      const cls = ['alert', 'alarm', open ? sev : 'resolved', page ? 'page' : 'notify'];
      if (open && status !== 'active') cls.push('is-quiet');
      if (acked) cls.push('is-acked');
      if (fresh) cls.push('fresh');
      const el = h('div', { class: cls.join(' '), dataset: { alert: a.alert_id } },
        h('div', { class: 'alert-top' },
          open ? h('span', { class: `sev-tag ${sev}` }, sev === 'critical' ? 'CRIT' : sev === 'warning' ? 'WARN' : 'INFO')
            : h('span', { class: 'sev-tag resolved' }, 'RESOLVED'),
          h('span', { class: `lvl-tag ${page ? 'page' : 'notify'}`, title: page ? 'pages the on-call' : 'notification only' }, page ? 'PAGE' : 'notify'),
          who,
          age),
        h('div', { class: 'alert-meta' },
          isZone ? null : h('span', { class: 'alert-zone' }, zone || '–'),
          h('span', { class: 'alert-thr' }, alertKind(a.kind)),
          num(a.value) !== null ? h('span', null, 'value ', h('b', null, fmtNum(a.value))) : null,
          (num(a.occurrences) || 0) > 1 ? h('span', { title: 'occurrences' }, '×', h('b', null, fmtInt(a.occurrences))) : null,
          status !== 'active' ? h('span', { class: `st-tag st-${status.replace(/[^a-z_-]/gi, '')}`, title: stTitle }, status) : null,
          acked ? h('span', { class: 'alert-ack' }, 'acked by ', h('b', null, acked)) : null,
          action),
        err,
        isZone && members.length ? h('div', { class: 'alert-members' },
          members.slice(0, 8).join(' · ') + (members.length > 8 ? ` +${members.length - 8}` : '')) : null);
      return { el, age };
    },
    /** POST /api/alerts/{id}/ack; the row shows progress, then "ack sent" or the error. */
    async ack(id) {
      const cur = this.acks.get(id);
      if (cur && cur.busy) return;
      this.acks.set(id, { busy: true, ok: false, err: '' });
      S.dirty.alerts = true;
      schedule();
      let next;
      try {
        await api(`/api/alerts/${enc(id)}/ack`, undefined, {
          method: 'POST',
          body: { comment: 'acknowledged from the dashboard' },
        });
        next = { busy: false, ok: true, err: '' };
      } catch (e) {
        next = { busy: false, ok: false, err: str(e && (e.detail || e.message)) || 'request failed' };
      }
      if (S.alerts.has(id)) this.acks.set(id, next);
      else this.acks.delete(id);
      S.dirty.alerts = true;
      schedule();
    },
    incidentRow(i, now) {
      const z = str(i.zone);
      if (i._placeholder) {
        return h('a', { class: 'alert incident', href: `#/zone/${enc(z)}` },
          h('div', { class: 'alert-top' }, h('span', { class: 'sev-tag critical' }, 'INCIDENT'), h('span', { class: 'alert-zone' }, z)),
          h('div', { class: 'alert-meta' }, 'Zone-wide incident open — details when viewing the zone'));
      }
      const sensors = arr(i.sensors);
      const start = num(i.start);
      return h('a', { class: 'alert incident', href: `#/zone/${enc(z)}`, title: sensors.join(', ') },
        h('div', { class: 'alert-top' },
          h('span', { class: 'sev-tag critical' }, 'INCIDENT'),
          h('span', { class: 'alert-zone' }, z),
          h('span', { class: 'alert-time' }, start === null ? '' : `since ${fmtTs(start)}`)),
        h('div', { class: 'alert-meta' },
          h('span', null, h('b', null, fmtInt(num(i.peak_sensors) ?? sensors.length)), ' sensors at peak'),
          h('span', null, h('b', null, start === null ? '–' : fmtDur(now - start)), ' open')),
        sensors.length ? h('div', { class: 'alert-members' },
          sensors.slice(0, 8).join(' · ') + (sensors.length > 8 ? ` +${sensors.length - 8}` : '')) : null);
    },
    anomalyRow(a, fresh) {
      const sev = sevOf(a.severity);
      const z = num(a.z);
      return h('a', { class: `alert anomaly ${sev}${fresh ? ' fresh' : ''}`, href: `#/sensor/${enc(str(a.sensor_id))}` },
        h('div', { class: 'alert-top' },
          h('span', { class: `sev-tag ${sev}` }, sev === 'critical' ? 'CRIT' : sev === 'warning' ? 'WARN' : 'INFO'),
          h('span', { class: 'alert-sensor' }, str(a.sensor_id)),
          h('span', { class: 'alert-time' }, fmtTs(a.ts))),
        h('div', { class: 'alert-meta' },
          h('span', { class: 'alert-zone' }, str(a.zone) || '–'),
          h('span', null, 'value ', h('b', null, fmtNum(a.value))),
          h('span', null, 'z ', h('b', null, z === null ? '–' : z.toFixed(1))),
          h('span', { class: 'alert-thr' }, thresholdText(a.threshold_kind, a.threshold))));
    },
  };

  // ──────────────────────────────────────────────────────────── views ──

  /** Redraws a card's canvas when it is on screen. */
  const visible = new Set();
  let io = null;
  function observe(el) { if (io) io.observe(el); else visible.add(el); }
  function unobserve(el) { if (io) io.unobserve(el); visible.delete(el); }

  function OverviewView() {
    const kpi = (label, cls) => {
      const v = h('div', { class: 'kpi-value' }, '–');
      const el = h('div', { class: `kpi ${cls || ''}` }, h('div', { class: 'kpi-label' }, label), v);
      return { el, v };
    };
    const k = {
      zones: kpi('Zones'), sensors: kpi('Sensors'), ok: kpi('Normal', 'k-ok'), warning: kpi('Warning', 'k-warning'),
      critical: kpi('Critical', 'k-critical'), stale: kpi('Stale', 'k-stale'), incidents: kpi('Open incidents', 'k-incident'),
    };
    const grid = h('div', { class: 'tile-grid' });
    const empty = h('div', { class: 'empty' }, h('div', { class: 'spinner' }), 'Waiting for data…');
    const el = h('section', { id: 'overview', class: 'view view-overview' },
      h('div', { class: 'kpis' }, Object.values(k).map((x) => x.el)), grid, empty);
    const tiles = new Map();

    function buildTile(z) {
      const t = {};
      t.name = h('div', { class: 'tile-name' }, z);
      t.badge = h('div', { class: 'tile-badge' });
      t.count = h('div', { class: 'tile-count' });
      t.nw = h('b'); t.nc = h('b'); t.ns = h('b');
      t.bar = { ok: h('i', { class: 'b-ok' }), warning: h('i', { class: 'b-warning' }), critical: h('i', { class: 'b-critical' }), stale: h('i', { class: 'b-stale' }) };
      t.line = h('div', { class: 'tile-line' });
      t.el = h('a', { class: 'tile', href: `#/zone/${enc(z)}`, dataset: { zone: z } },
        h('div', { class: 'tile-head' }, t.name, t.badge),
        h('div', { class: 'tile-main' }, t.count, h('span', { class: 'tile-unit' }, 'sensors')),
        h('div', { class: 'tile-counts' },
          h('div', { class: 'c c-warning' }, t.nw, h('span', null, 'warning')),
          h('div', { class: 'c c-critical' }, t.nc, h('span', null, 'critical')),
          h('div', { class: 'c c-stale' }, t.ns, h('span', null, 'stale'))),
        h('div', { class: 'tile-bar' }, Object.values(t.bar)),
        t.line);
      return t;
    }

    function update(now) {
      const zs = zoneSummaries(now);
      const tot = { sensors: 0, ok: 0, warning: 0, critical: 0, stale: 0 };
      for (const e of zs) for (const key of Object.keys(tot)) tot[key] += e[key];
      const incidents = zs.filter((e) => e.incident).length;
      setText(k.zones.v, fmtInt(zs.length));
      setText(k.sensors.v, fmtInt(tot.sensors));
      setText(k.ok.v, fmtInt(tot.ok));
      setText(k.warning.v, fmtInt(tot.warning));
      setText(k.critical.v, fmtInt(tot.critical));
      setText(k.stale.v, fmtInt(tot.stale));
      setText(k.incidents.v, fmtInt(incidents));
      k.warning.el.classList.toggle('active', tot.warning > 0);
      k.critical.el.classList.toggle('active', tot.critical > 0);
      k.stale.el.classList.toggle('active', tot.stale > 0);
      k.incidents.el.classList.toggle('active', incidents > 0);

      empty.hidden = zs.length > 0;
      grid.classList.toggle('dense', zs.length > 12);
      if (!zs.length && (Conn.synced || S.restZones.size)) empty.replaceChildren('No zones reported yet');
      const keep = new Set();
      let prev = null;
      for (const e of zs) {
        keep.add(e.zone);
        let t = tiles.get(e.zone);
        if (!t) { t = buildTile(e.zone); tiles.set(e.zone, t); }
        setClass(t.el, `tile state-${e.state}${e.incident ? ' has-incident' : ''}${e.fromRest ? ' from-rest' : ''}`);
        setText(t.count, fmtInt(e.sensors));
        setText(t.nw, fmtInt(e.warning));
        setText(t.nc, fmtInt(e.critical));
        setText(t.ns, e.fromRest ? '–' : fmtInt(e.stale));
        t.nw.parentNode.classList.toggle('nz', e.warning > 0);
        t.nc.parentNode.classList.toggle('nz', e.critical > 0);
        t.ns.parentNode.classList.toggle('nz', !e.fromRest && e.stale > 0);
        setText(t.badge, e.incident ? 'INCIDENT' : STATE_LABEL[e.state]);
        const total = Math.max(1, e.sensors);
        const okN = Math.max(0, e.sensors - e.warning - e.critical - (e.fromRest ? 0 : e.stale));
        const parts = { ok: okN, warning: e.warning, critical: e.critical, stale: e.fromRest ? 0 : e.stale };
        for (const key of Object.keys(parts)) {
          const wdt = `${((parts[key] / total) * 100).toFixed(2)}%`;
          if (t.bar[key].style.width !== wdt) t.bar[key].style.width = wdt;
        }
        let line;
        if (e.incident) {
          const i = e.incident;
          line = i._placeholder ? 'Zone-wide incident open'
            : `Incident since ${fmtClock(i.start)} · ${fmtDur(now - i.start)} · ${fmtInt(num(i.peak_sensors) ?? arr(i.sensors).length)} sensors`;
        } else if (e.critical || e.warning) {
          line = [e.critical ? `${e.critical} critical` : '', e.warning ? `${e.warning} warning` : ''].filter(Boolean).join(' · ');
        } else if (e.state === 'stale') line = e.sensors ? 'No current data' : 'No sensors';
        else line = e.fromRest ? 'Waiting for live data…' : 'All sensors normal';
        setText(t.line, line);
        const want = prev ? prev.nextSibling : grid.firstChild;
        if (want !== t.el) grid.insertBefore(t.el, want);
        prev = t.el;
      }
      for (const [z, t] of tiles) if (!keep.has(z)) { t.el.remove(); tiles.delete(z); }
    }

    return { el, update, destroy() {}, zones: [] };
  }

  function ZoneView(zone) {
    let sortBy = 'id';
    const title = h('h1', null, zone);
    const sub = h('div', { class: 'view-sub' });
    const banner = h('div', { class: 'incident-banner', hidden: true });
    const sortSel = h('select', { 'aria-label': 'Sort sensors', onchange: () => { sortBy = sortSel.value; order = ''; schedule(); } },
      h('option', { value: 'id' }, 'Sort: sensor id'),
      h('option', { value: 'state' }, 'Sort: severity'),
      h('option', { value: 'kind' }, 'Sort: kind'));
    const grid = h('div', { class: 'card-grid' });
    const empty = h('div', { class: 'empty' }, h('div', { class: 'spinner' }), 'Waiting for data…');
    const el = h('section', { class: 'view view-zone', dataset: { zone } },
      h('div', { class: 'view-head' }, h('div', { class: 'view-title' }, title, sub), h('div', { class: 'view-tools' }, sortSel)),
      banner, grid, empty);
    const cards = new Map();
    let order = '';
    const prefill = { started: false, ctrl: new AbortController() };

    function buildCard(id) {
      const c = { id };
      c.badge = h('span', { class: 'badge' });
      c.kind = h('div', { class: 'card-kind' });
      c.value = h('span', { class: 'value' }, '–');
      c.unit = h('span', { class: 'unit' });
      c.mean = h('b'); c.sd = h('b'); c.avg = h('b'); c.min = h('b'); c.max = h('b');
      c.canvas = h('canvas', { class: 'spark', 'aria-hidden': 'true' });
      c.foot = h('span', { class: 'card-age' });
      c.n5 = h('span', { class: 'card-n' });
      c.el = h('a', { class: 'card', href: `#/sensor/${enc(id)}`, dataset: { sensor: id } },
        h('div', { class: 'card-head' }, h('span', { class: 'card-id' }, id), c.badge),
        c.kind,
        h('div', { class: 'card-main' }, c.value, c.unit),
        h('div', { class: 'card-stats' },
          h('div', { class: 'st st-wide' }, h('span', null, 'mean ± σ'), h('span', { class: 'st-v' }, c.mean, ' ± ', c.sd)),
          h('div', { class: 'st' }, h('span', null, '5m avg'), c.avg),
          h('div', { class: 'st' }, h('span', null, '5m min'), c.min),
          h('div', { class: 'st' }, h('span', null, '5m max'), c.max)),
        c.canvas,
        h('div', { class: 'card-foot' }, c.foot, c.n5));
      c.canvas._card = c;
      c.needsDraw = true;
      observe(c.canvas);
      return c;
    }

    function updateCard(c, s, now, incidentSet) {
      const st = stateOf(s, now);
      const sev = sevOf(s.severity);
      c.state = st;
      setClass(c.el, `card state-${st}${st === 'stale' && sev !== 'ok' ? ` last-${sev}` : ''}${incidentSet.has(c.id) ? ' in-incident' : ''}${s._live === false ? ' not-live' : ''}`);
      setText(c.badge, st === 'stale' ? (num(s.value) === null ? 'NO DATA' : sev !== 'ok' ? `STALE · ${sev.toUpperCase()}` : 'STALE') : STATE_LABEL[st]);
      setText(c.kind, [str(s.kind), str(s.unit)].filter(Boolean).join(' · ') || '–');
      const v = num(s.value);
      setText(c.value, fmtNum(v));
      setText(c.unit, str(s.unit));
      setText(c.mean, fmtNum(s.mean));
      setText(c.sd, fmtNum(s.stddev, s.mean));
      const w5 = s.window_5m && typeof s.window_5m === 'object' ? s.window_5m : {};
      setText(c.avg, fmtNum(w5.avg));
      setText(c.min, fmtNum(w5.min));
      setText(c.max, fmtNum(w5.max));
      setText(c.foot, num(s.ts) === null ? 'no reading' : `${fmtClock(s.ts)} · ${fmtAgo(s._seen, now)}`);
      setText(c.n5, num(w5.count) === null ? '' : `n=${fmtInt(w5.count)}/5m`);
    }

    function drawCard(c, s) {
      const se = S.series.get(c.id);
      const P = palette();
      const color = P[c.state] || P.ok;
      const d = se ? se.arrays() : { t: [], v: [] };
      const w5 = s && s.window_5m && typeof s.window_5m === 'object' ? num(s.window_5m.avg) : null;
      drawChart(c.canvas, {
        compact: true,
        lines: [{ t: d.t, v: d.v, color, width: 1.6, fill: true, dot: true }],
        refs: w5 !== null ? [{ v: w5, color: rgba(P.text, 0.25) }] : [],
        markers: S.anomalies.filter((a) => a.sensor_id === c.id && num(a.ts) >= (d.t[0] ?? Infinity))
          .map((a) => ({ t: a.ts, v: a.value, color: P[sevOf(a.severity)] })),
        emptyText: 'collecting…',
      });
      c.needsDraw = false;
    }

    function sortKey(list, now) {
      if (sortBy === 'state') {
        return list.slice().sort((a, b) => (STATE_RANK[stateOf(b, now)] - STATE_RANK[stateOf(a, now)]) || natural(a.sensor_id, b.sensor_id));
      }
      if (sortBy === 'kind') return list.slice().sort((a, b) => natural(str(a.kind), str(b.kind)) || natural(a.sensor_id, b.sensor_id));
      return list;
    }

    function startPrefill(list) {
      prefill.started = true;
      const todo = list.filter((s) => {
        const se = S.series.get(s.sensor_id);
        return num(s.ts) !== null && (!se || se.len < 30);
      }).slice(0, CFG.prefillMaxSensors);
      let i = 0;
      const worker = async () => {
        while (i < todo.length && !prefill.ctrl.signal.aborted) {
          const s = todo[i++];
          const to = s.ts, from = to - CFG.prefillMs;
          try {
            const body = await api(`/api/sensors/${enc(s.sensor_id)}/history?from=${Math.floor(from)}&to=${Math.ceil(to)}&resolution=raw`, prefill.ctrl.signal);
            const pts = arr(body && body.points).map((p) => ({ t: num(p && p.t), v: num(p && (p.value ?? p.avg)) }));
            let se = S.series.get(s.sensor_id);
            if (!se) { se = new Series(CFG.chartPoints); S.series.set(s.sensor_id, se); }
            se.merge(pts);
            const c = cards.get(s.sensor_id);
            if (c) c.needsDraw = true;
            schedule();
          } catch (e) {
            if (e && e.name === 'AbortError') return;
          }
        }
      };
      for (let k = 0; k < CFG.prefillConcurrency; k++) worker();
    }

    function update(now, flags) {
      const list = zoneIndex().get(zone) || [];
      const incidents = openIncidents(zone);
      const incidentSet = new Set(incidents.flatMap((i) => arr(i.sensors)));
      // header
      let nw = 0, nc = 0, ns = 0;
      for (const s of list) {
        const sev = sevOf(s.severity);
        if (sev === 'warning') nw++;
        if (sev === 'critical') nc++;
        if (isStale(s, now)) ns++;
      }
      sub.replaceChildren(
        h('span', null, h('b', null, fmtInt(list.length)), ' sensors'),
        h('span', { class: nw ? 'is-warning' : '' }, h('b', null, fmtInt(nw)), ' warning'),
        h('span', { class: nc ? 'is-critical' : '' }, h('b', null, fmtInt(nc)), ' critical'),
        h('span', { class: ns ? 'is-stale' : '' }, h('b', null, fmtInt(ns)), ' stale'));
      banner.hidden = !incidents.length;
      if (incidents.length) {
        const i = incidents[0];
        banner.replaceChildren(h('span', { class: 'sev-tag critical' }, 'ZONE INCIDENT'),
          i._placeholder ? h('span', null, 'A zone-wide incident is open.')
            : h('span', null, `Open since ${fmtTs(i.start)} (${fmtDur(now - i.start)}) · peak ${fmtInt(num(i.peak_sensors) ?? arr(i.sensors).length)} sensors`,
              arr(i.sensors).length ? ` · ${arr(i.sensors).slice(0, 12).join(', ')}${arr(i.sensors).length > 12 ? ` +${arr(i.sensors).length - 12} more` : ''}` : ''));
      }
      empty.hidden = list.length > 0;
      if (!list.length && Conn.synced && (S.scope === null || S.scope.includes(zone))) empty.replaceChildren(`No sensors in zone “${zone}”.`);
      if (list.length && !prefill.started) startPrefill(list);

      // cards: keyed, created once, reordered only when the order changes
      const sorted = sortKey(list, now);
      const key = sorted.map((s) => s.sensor_id).join('\n');
      if (key !== order || flags.membership) {
        const keep = new Set();
        const frag = [];
        for (const s of sorted) {
          let c = cards.get(s.sensor_id);
          if (!c) { c = buildCard(s.sensor_id); cards.set(s.sensor_id, c); updateCard(c, s, now, incidentSet); }
          keep.add(s.sensor_id);
          frag.push(c.el);
        }
        for (const [id, c] of cards) if (!keep.has(id)) { unobserve(c.canvas); c.el.remove(); cards.delete(id); }
        let prev = null;
        for (const node of frag) {
          const want = prev ? prev.nextSibling : grid.firstChild;
          if (want !== node) grid.insertBefore(node, want);
          prev = node;
        }
        order = key;
      }
      for (const s of list) {
        const c = cards.get(s.sensor_id);
        if (!c) continue;
        const changed = flags.all || S.dirty.sensors.has(s.sensor_id);
        if (changed || flags.tick) {
          const before = c.state;
          updateCard(c, s, now, incidentSet);
          if (changed || before !== c.state) c.needsDraw = true;
        }
        if (c.needsDraw && visible.has(c.canvas)) drawCard(c, s);
      }
    }

    function destroy() {
      prefill.ctrl.abort();
      for (const c of cards.values()) unobserve(c.canvas);
    }
    return { el, update, destroy, zones: [zone], focus: zone };
  }

  function SensorView(id, params) {
    let range = RANGES[params.range] ? params.range : '1h';
    let res = RESOLUTIONS.includes(params.res) ? params.res : 'auto';
    let data = null, err = null, loading = false, ctrl = null, anoms = [], timer = 0, layout = null, hover = null, lastReq = null;
    let infoFetched = false, hoverRaf = 0, subscribed = false;

    const title = h('h1', null, id);
    const sub = h('div', { class: 'view-sub' });
    const live = {
      value: h('span', { class: 'hist-value' }, '–'), unit: h('span', { class: 'unit' }), badge: h('span', { class: 'badge' }),
      mean: h('b'), w5: h('b'), w1h: h('b'), ts: h('b'),
    };
    const liveEl = h('div', { class: 'live-strip' },
      h('div', { class: 'live-main' }, h('div', { class: 'live-label' }, 'Current', live.badge), h('div', null, live.value, live.unit)),
      h('div', { class: 'live-stat' }, h('span', null, 'mean ± σ'), live.mean),
      h('div', { class: 'live-stat' }, h('span', null, '5 min avg · min · max'), live.w5),
      h('div', { class: 'live-stat' }, h('span', null, '1 h avg · min · max'), live.w1h),
      h('div', { class: 'live-stat' }, h('span', null, 'last reading'), live.ts));
    const rangeBtns = Object.keys(RANGES).map((r) => h('button', { type: 'button', class: 'seg', dataset: { range: r }, onclick: () => { range = r; persist(); load(); } }, RANGE_LABEL[r]));
    const resSel = h('select', { 'aria-label': 'Resolution', onchange: () => { res = resSel.value; persist(); load(); } },
      RESOLUTIONS.map((r) => h('option', { value: r }, r === 'auto' ? 'Resolution: auto' : `Resolution: ${r}`)));
    resSel.value = res;
    const refreshBtn = h('button', { type: 'button', class: 'btn', title: 'Reload', onclick: () => load() }, '↻');
    const meta = h('div', { class: 'hist-meta' });
    const errBox = h('div', { class: 'error-box', role: 'alert', hidden: true });
    const canvas = h('canvas', { class: 'hist-chart' });
    const tip = h('div', { class: 'chart-tip', hidden: true });
    const spin = h('div', { class: 'chart-loading', hidden: true }, h('div', { class: 'spinner' }));
    const statsEl = h('div', { class: 'hist-stats' });
    const legend = h('div', { class: 'legend' });
    const el = h('section', { class: 'view view-sensor', dataset: { sensorView: id } },
      h('div', { class: 'view-head' }, h('div', { class: 'view-title' }, title, sub)),
      liveEl,
      h('div', { class: 'toolbar' }, h('div', { class: 'segs', role: 'group', 'aria-label': 'Range' }, rangeBtns), resSel, refreshBtn, meta),
      errBox,
      h('div', { class: 'chart-wrap' }, canvas, tip, spin),
      h('div', { class: 'hist-foot' }, legend, statsEl));

    function persist() {
      const q = `range=${range}&res=${res}`;
      const url = `#/sensor/${enc(id)}?${q}`;
      if (location.hash !== url) history.replaceState(null, '', url);
    }

    function parse(body, from, to) {
      const pts = arr(body && body.points)
        .filter((p) => p && num(p.t) !== null)
        .sort((a, b) => a.t - b.t);
      const agg = (body && body.resolution && body.resolution !== 'raw') || pts.some((p) => 'avg' in p);
      const d = {
        source: str(body && body.source) || '?', resolution: str(body && body.resolution) || (agg ? '?' : 'raw'),
        from: num(body && body.from) ?? from, to: num(body && body.to) ?? to, agg, n: pts.length,
        t: pts.map((p) => p.t), v: pts.map((p) => num(agg ? p.avg ?? p.value : p.value ?? p.avg)),
        lo: agg ? pts.map((p) => num(p.min)) : null, hi: agg ? pts.map((p) => num(p.max)) : null,
        count: agg ? pts.map((p) => num(p.count)) : null,
      };
      return d;
    }

    async function fetchInfo() {
      infoFetched = true;
      try {
        const s = await api(`/api/sensors/${enc(id)}`);
        if (s && typeof s === 'object' && !S.sensors.has(id)) { upsertSensor(s, false, Date.now()); S.dirty.all = true; }
        routeSubscribe();
        schedule();
      } catch (e) {
        if (!data) { err = e; renderMeta(); }
      }
    }

    function load() {
      if (ctrl) ctrl.abort();
      clearTimeout(timer);
      ctrl = new AbortController();
      const my = ctrl;
      const s = S.sensors.get(id);
      const rangeMs = RANGES[range];
      let to = Date.now();
      const ts = s ? num(s.ts) : null;
      const anchored = ts !== null && Math.abs(to - ts) > CFG.clockSkewMs;
      if (anchored) to = ts;
      const from = to - rangeMs;
      lastReq = { from, to, anchored, range, key: `${range}|${res}` };
      const req = lastReq;
      loading = true;
      renderMeta();
      const q = `from=${Math.floor(from)}&to=${Math.ceil(to)}&resolution=${enc(res)}`;
      api(`/api/sensors/${enc(id)}/history?${q}`, my.signal).then((body) => {
        if (my !== ctrl) return;
        data = parse(body, from, to);
        data.req = lastReq;
        err = null;
      }).catch((e) => {
        if (e && e.name === 'AbortError') return;
        err = e;
        // A failed refresh keeps the chart; a failed new range/resolution does not.
        if (data && data.req && data.req.key !== req.key) data = null;
      }).finally(() => {
        if (my !== ctrl) return;
        loading = false;
        renderMeta();
        draw();
        timer = setTimeout(load, REFRESH_MS[range] || 60e3);
      });
      const zone = s ? str(s.zone) : '';
      if (zone) {
        api(`/api/anomalies?zone=${enc(zone)}&since=${Math.floor(from)}`, my.signal).then((list) => {
          anoms = arr(list).filter((a) => a && a.sensor_id === id && num(a.ts) !== null).slice(0, 2000);
          draw();
        }).catch(() => {});
      }
    }

    function renderMeta() {
      for (const b of rangeBtns) b.classList.toggle('active', b.dataset.range === range);
      spin.hidden = !loading;
      const parts = [];
      if (data) {
        parts.push(h('span', { class: 'chip' }, 'source ', h('b', null, data.source)));
        parts.push(h('span', { class: 'chip' }, 'resolution ', h('b', null, data.resolution)));
        parts.push(h('span', { class: 'chip' }, h('b', { class: 'points' }, fmtInt(data.n)), ' points'));
        parts.push(h('span', { class: 'chip dim' }, `${fmtDateTime(data.from)} → ${fmtDateTime(data.to)}`));
        if (data.req && data.req.anchored) parts.push(h('span', { class: 'chip is-warning', title: 'The sensor’s last reading is far from the current time; the range ends at that reading.' }, 'anchored at last reading'));
      } else if (loading) parts.push(h('span', { class: 'chip dim' }, 'loading…'));
      meta.replaceChildren(...parts);
      errBox.hidden = !err;
      if (err) {
        errBox.replaceChildren(
          h('div', { class: 'error-title' }, err.status ? `${err.error || 'error'} (HTTP ${err.status})` : (err.error || 'error')),
          h('div', { class: 'error-detail' }, err.detail || str(err.message)));
      }
    }

    function series() {
      if (!data) return null;
      let t = data.t, v = data.v;
      let x0 = data.from, x1 = data.to;
      // A raw view of the present also shows the live points received since.
      if (!data.agg && data.req && !data.req.anchored) {
        const se = S.series.get(id);
        if (se && se.len) {
          const lastT = t.length ? t[t.length - 1] : -Infinity;
          const d = se.arrays();
          const extraT = [], extraV = [];
          for (let i = 0; i < d.t.length; i++) if (d.t[i] > lastT && d.t[i] > x0) { extraT.push(d.t[i]); extraV.push(d.v[i]); }
          if (extraT.length) {
            t = t.concat(extraT); v = v.concat(extraV);
            x1 = Math.max(x1, extraT[extraT.length - 1]);
            x0 = x1 - (data.to - data.from);
          }
        }
      }
      return { t, v, x0, x1 };
    }

    function draw() {
      const P = palette();
      const s = S.sensors.get(id);
      const sr = series();
      const color = P.accent;
      if (!sr) {
        layout = null;
        drawChart(canvas, { lines: [], emptyText: loading ? 'Loading…' : err ? 'No data (see error above)' : 'No data' });
        return;
      }
      let hv = null;
      if (hover && sr.t.length) {
        const i = nearest(sr.t, hover.t);
        if (i >= 0) hv = { i, t: sr.t[i], pts: [{ v: sr.v[i], color }] };
      }
      layout = drawChart(canvas, {
        x0: sr.x0, x1: sr.x1,
        band: data.agg ? { t: data.t, lo: data.lo, hi: data.hi, color: rgba(P.accent, 0.22) } : null,
        lines: [{ t: sr.t, v: sr.v, color, width: data.agg ? 2 : 1.6, dot: !data.agg }],
        markers: anoms.map((a) => ({ t: a.ts, v: num(a.value), color: P[sevOf(a.severity)] })),
        hover: hv,
        emptyText: err ? 'No data (see error above)' : 'No data in this range',
      });
      legend.replaceChildren(...[
        h('span', { class: 'lg' }, h('i', { class: 'lg-line' }), data.agg ? 'average' : 'value'),
        data.agg ? h('span', { class: 'lg' }, h('i', { class: 'lg-band' }), 'min – max') : null,
        anoms.length ? h('span', { class: 'lg' }, h('i', { class: 'lg-dot' }), `${anoms.length} anomalies`) : null,
      ].filter(Boolean));
      // range statistics
      let mn = Infinity, mx = -Infinity, sum = 0, n = 0;
      for (let i = 0; i < sr.t.length; i++) {
        if (sr.t[i] < sr.x0 || sr.t[i] > sr.x1) continue;
        const v = sr.v[i];
        if (v === null) continue;
        const lo = data.agg && data.lo[i] !== undefined && data.lo[i] !== null ? data.lo[i] : v;
        const hi = data.agg && data.hi[i] !== undefined && data.hi[i] !== null ? data.hi[i] : v;
        mn = Math.min(mn, lo); mx = Math.max(mx, hi); sum += v; n++;
      }
      const unit = s ? str(s.unit) : '';
      statsEl.replaceChildren(n ? h('span', null,
        'range min ', h('b', null, fmtNum(mn)), ' · max ', h('b', null, fmtNum(mx)), ' · mean ', h('b', null, fmtNum(sum / n)), unit ? ` ${unit}` : '') : '');
      // tooltip
      if (hv && layout) {
        const i = hv.i;
        const rows = [h('div', { class: 'tip-time' }, fmtDateTime(hv.t))];
        if (data.agg && i < data.t.length && data.t[i] === hv.t) {
          rows.push(h('div', null, 'avg ', h('b', null, fmtNum(data.v[i])), ` ${unit}`));
          rows.push(h('div', null, 'min ', h('b', null, fmtNum(data.lo[i])), ' · max ', h('b', null, fmtNum(data.hi[i]))));
          if (data.count[i] !== null) rows.push(h('div', { class: 'dim' }, `${fmtInt(data.count[i])} readings`));
        } else rows.push(h('div', null, h('b', null, fmtNum(sr.v[i])), ` ${unit}`));
        tip.replaceChildren(...rows);
        tip.hidden = false;
        const x = layout.xOf(hv.t);
        const cw = canvas.clientWidth;
        tip.style.left = `${x > cw * 0.6 ? x - tip.offsetWidth - 14 : x + 14}px`;
        tip.style.top = `${layout.T + 6}px`;
      } else tip.hidden = true;
    }

    canvas.addEventListener('mousemove', (ev) => {
      if (!layout) return;
      const r = canvas.getBoundingClientRect();
      const x = ev.clientX - r.left;
      if (x < layout.L || x > layout.L + layout.W) { if (hover) { hover = null; draw(); } return; }
      hover = { t: layout.tOf(x) };
      if (!hoverRaf) hoverRaf = requestAnimationFrame(() => { hoverRaf = 0; draw(); });
    });
    canvas.addEventListener('mouseleave', () => { hover = null; draw(); });

    function update(now, flags) {
      const s = S.sensors.get(id);
      if (!s && !infoFetched) fetchInfo();
      if (s) {
        if (!subscribed) { subscribed = true; routeSubscribe(); }
        const st = stateOf(s, now);
        setClass(liveEl, `live-strip state-${st}`);
        setText(live.badge, STATE_LABEL[st]);
        live.badge.className = `badge lb-${st}`;
        setText(live.value, fmtNum(s.value));
        setText(live.unit, str(s.unit));
        setText(live.mean, `${fmtNum(s.mean)} ± ${fmtNum(s.stddev, s.mean)}`);
        const w = (x) => (x && typeof x === 'object' ? `${fmtNum(x.avg)} · ${fmtNum(x.min)} · ${fmtNum(x.max)}` : '–');
        setText(live.w5, w(s.window_5m));
        setText(live.w1h, w(s.window_1h));
        setText(live.ts, num(s.ts) === null ? '–' : `${fmtTs(s.ts)} (${fmtAgo(s._seen, now)})`);
        const z = str(s.zone);
        if (sub.dataset.k !== `${s.kind}|${s.unit}|${z}`) {
          sub.dataset.k = `${s.kind}|${s.unit}|${z}`;
          sub.replaceChildren(
            h('span', null, str(s.kind) || '–'), h('span', null, str(s.unit) || '–'),
            z ? h('a', { href: `#/zone/${enc(z)}` }, z) : null);
          Header.setCrumbs([{ text: 'Overview', href: '#/' }, z ? { text: z, href: `#/zone/${enc(z)}` } : null, { text: id }].filter(Boolean));
        }
        if (!lastReq && !loading) load();
      }
      if (flags.all || S.dirty.sensors.has(id)) draw();
    }

    function destroy() { if (ctrl) ctrl.abort(); clearTimeout(timer); }

    renderMeta();
    // Wait briefly for the socket to know the sensor (its zone and clock);
    // load anyway after 1.5 s so the view works without a live connection.
    setTimeout(() => { if (!lastReq) load(); }, S.sensors.has(id) ? 0 : 1500);
    const zone = S.sensors.has(id) ? str(S.sensors.get(id).zone) : null;
    return { el, update, destroy, zones: zone ? [zone] : null, focus: zone };
  }

  // ─────────────────────────────────────────────────────────── routing ──

  let view = null;
  let route = null;

  function parseRoute() {
    const raw = location.hash.replace(/^#/, '') || '/';
    const qi = raw.indexOf('?');
    const path = qi >= 0 ? raw.slice(0, qi) : raw;
    const params = {};
    if (qi >= 0) for (const [k, v] of new URLSearchParams(raw.slice(qi + 1))) params[k] = v;
    const parts = path.split('/').filter(Boolean);
    const dec = (x) => { try { return decodeURIComponent(x); } catch (_) { return x; } };
    if (parts[0] === 'zone' && parts.length > 1) return { name: 'zone', zone: dec(parts.slice(1).join('/')), params };
    if (parts[0] === 'sensor' && parts.length > 1) return { name: 'sensor', id: dec(parts.slice(1).join('/')), params };
    return { name: 'overview', params };
  }

  function routeSubscribe() {
    if (!view) return;
    let zones = view.zones;
    if (route && route.name === 'sensor') {
      const s = S.sensors.get(route.id);
      zones = s && str(s.zone) ? [str(s.zone)] : null;
      if (zones) { view.focus = zones[0]; S.focusZone = zones[0]; }
    }
    if (zones) Conn.setWant(zones); // null: keep the current subscription
  }

  function mount() {
    const r = parseRoute();
    if (view && route && r.name === route.name && r.zone === route.zone && r.id === route.id) return;
    if (view) { view.destroy(); view.el.remove(); }
    route = r;
    const main = document.getElementById('view');
    if (r.name === 'zone') {
      view = ZoneView(r.zone);
      Header.setCrumbs([{ text: 'Overview', href: '#/' }, { text: r.zone }]);
      document.title = `${r.zone} · weir`;
    } else if (r.name === 'sensor') {
      view = SensorView(r.id, r.params);
      const s = S.sensors.get(r.id);
      Header.setCrumbs([{ text: 'Overview', href: '#/' }, s && s.zone ? { text: str(s.zone), href: `#/zone/${enc(str(s.zone))}` } : null, { text: r.id }].filter(Boolean));
      document.title = `${r.id} · weir`;
    } else {
      view = OverviewView();
      Header.setCrumbs([{ text: 'Overview' }]);
      document.title = 'weir · live';
    }
    S.focusZone = view.focus || null;
    main.replaceChildren(view.el);
    main.scrollTop = 0;
    routeSubscribe();
    S.dirty.all = true;
    schedule();
  }

  // ─────────────────────────────────────────────────────────── render ──

  let rafPending = false, renderTimer = 0, lastRender = 0;
  function schedule() {
    if (rafPending || renderTimer) return;
    const wait = CFG.renderIntervalMs - (performance.now() - lastRender);
    if (wait > 0) renderTimer = setTimeout(() => { renderTimer = 0; schedule(); }, wait);
    else { rafPending = true; requestAnimationFrame(render); }
  }

  function render() {
    rafPending = false;
    lastRender = performance.now();
    const now = Date.now();
    if (S.dirty.membership) S.zoneIndex = null;
    const flags = { all: S.dirty.all, tick: S.dirty.tick, membership: S.dirty.membership };
    try {
      if (view) view.update(now, flags);
      if (S.dirty.alerts || flags.tick || flags.all) Alerts.render(now);
      Header.render(now);
    } catch (e) {
      console.error('weir dashboard render failed', e);
    }
    S.dirty.sensors.clear();
    S.dirty.all = false;
    S.dirty.alerts = false;
    S.dirty.membership = false;
    S.dirty.tick = false;
  }

  function tick() {
    Metrics.roll(Date.now());
    pruneAlerts(Date.now());
    S.dirty.tick = true;
    schedule();
  }

  // ───────────────────────────────────────────────────────────── init ──

  async function init() {
    document.getElementById('signout')?.addEventListener('click', () => Session.lost());
    await Session.start();
    Header.init();
    Alerts.init();
    if ('IntersectionObserver' in window) {
      io = new IntersectionObserver((entries) => {
        for (const e of entries) {
          if (e.isIntersecting) { visible.add(e.target); if (e.target._card) e.target._card.needsDraw = true; }
          else visible.delete(e.target);
        }
        schedule();
      }, { root: document.getElementById('view'), rootMargin: '200px' });
    }
    let resizeT = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizeT);
      resizeT = setTimeout(() => { S.dirty.all = true; schedule(); }, 100);
    });
    document.addEventListener('visibilitychange', () => { if (!document.hidden) { S.dirty.all = true; schedule(); } });
    window.addEventListener('hashchange', mount);
    mount();
    Conn.connect();
    Poll.run(true);
    setInterval(tick, 1000);
    setInterval(() => Poll.run(), CFG.pollMs);
    Health.run();
    setInterval(() => Health.run(), CFG.healthMs);
  }

  // For debugging from the console; not an API.
  window.weir = { state: S, conn: Conn, metrics: Metrics };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
