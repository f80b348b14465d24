// pushbench's browser page: one subscriber per transport, each opened with the API a web app
// would use, all on one topic, with this page as the publisher so latency is measured on one clock.
//
// Every row starts after the topic's newest sequence number at page load ("joined at"), so every
// row should receive exactly the same messages. Resumption is each API's own: EventSource resends
// Last-Event-ID when its connection drops; everything else reopens with after=<last seq>.
//
// window.pushbench is what crates/server/tests/browser.rs drives: state(), publish(n),
// disconnectAll(), disconnect(name), setRate(r).
//
// URL parameters: topic (default demo), rate (messages per second this page publishes, default 5),
// poll (short-poll period in ms, default 250), retry (ms before a dropped row reopens, default
// 1000), timeout (long-poll hold in ms, default 25000), heartbeat (the server's --heartbeat-ms,
// default 15000).
(function () {
  'use strict';

  const params = new URLSearchParams(location.search);
  const num = (key, dflt) => {
    const v = Number(params.get(key));
    return params.has(key) && Number.isFinite(v) && v >= 0 ? v : dflt;
  };
  const TOPIC = params.get('topic') || 'demo';
  const T = encodeURIComponent(TOPIC);
  const RETRY_MS = num('retry', 1000);
  const POLL_MS = num('poll', 250);
  const LONG_POLL_TIMEOUT_MS = num('timeout', 25000);
  // The server's --heartbeat-ms: an iframe stream silent for two of these is taken for dead.
  const HEARTBEAT_MS = num('heartbeat', 15000);
  const IFRAME_SILENCE_MS = 2 * HEARTBEAT_MS + 500;
  // Latency percentiles and the sparkline cover this much recent time.
  const WINDOW_MS = 10000;
  // Long-lived streams grow without bound inside the browser (responseText, the iframe's DOM), so
  // real clients start a fresh request now and then; these rows do it here, resuming with after=.
  const XHR_ROLLOVER_CHARS = 1 << 20;
  const IFRAME_ROLLOVER_MESSAGES = 5000;
  // Publishes not yet answered; past this the schedule skips (and counts) instead of queueing.
  const MAX_IN_FLIGHT = 64;
  // The probe's publisher field: messages from other pages count but give no latency.
  const PUBLISHER = crypto.getRandomValues(new Uint32Array(1))[0];

  const $ = (id) => document.getElementById(id);
  const sleep = (ms, signal) =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      if (signal) signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
    });
  const errText = (e) => String((e && e.message) || e);

  // ---- events log -------------------------------------------------------------------------

  const LOG_LINES = 12;
  function log(who, text) {
    const li = document.createElement('li');
    const time = document.createElement('time');
    time.textContent = new Date().toLocaleTimeString([], { hour12: false });
    const name = document.createElement('span');
    name.className = 't';
    name.textContent = who;
    const what = document.createElement('span');
    what.textContent = text;
    li.append(time, name, what);
    $('log').prepend(li);
    while ($('log').children.length > LOG_LINES) $('log').lastChild.remove();
  }

  // ---- probe payloads: <intended_ns>:<sent_ns>:<publisher>: (crates/wire/src/probe.rs) ------
  // Times are ns since this page's performance.timeOrigin, the page's one monotonic clock.

  const ns = (ms) => Math.round(ms * 1e6);
  function parseProbe(data) {
    const m = typeof data === 'string' && /^(\d+):(\d+):(\d+):/.exec(data);
    return m ? { intendedMs: Number(m[1]) / 1e6, publisher: Number(m[3]) } : null;
  }

  // ---- latency over the last WINDOW_MS: a time-bounded window, sorted on demand -------------

  class LatencyWindow {
    constructor() { this.t = []; this.v = []; }
    add(t, v) {
      this.t.push(t);
      this.v.push(v);
      // Bounded even at absurd rates: the oldest half goes.
      if (this.t.length > 20000) { this.t.splice(0, 10000); this.v.splice(0, 10000); }
    }
    prune(now) {
      let i = 0;
      while (i < this.t.length && this.t[i] < now - WINDOW_MS) i++;
      if (i > 0) { this.t.splice(0, i); this.v.splice(0, i); }
    }
    quantile(q) {
      if (this.v.length === 0) return null;
      const s = Float64Array.from(this.v).sort();
      return s[Math.max(0, Math.ceil(q * s.length) - 1)];
    }
  }

  // ---- one subscriber ---------------------------------------------------------------------
  //
  // `open(sub, live)` starts one connection and returns { close }. Its callbacks check `live()`
  // first: once the row has moved on (dropped, lost, rolled over), a late event from an old
  // connection changes nothing.

  class Sub {
    constructor(name, path, api, resume, open) {
      Object.assign(this, { name, path, api, resume, open });
      this.status = 'connecting';
      this.received = 0; // message envelopes handed over, duplicates included
      this.lastSeq = 0; // highest sequence number seen (or the join point)
      this.gaps = 0; // explicit gap notices
      this.duplicates = 0; // at or below lastSeq: delivered twice or out of order
      this.missing = 0; // skipped without a gap notice
      this.reconnects = 0; // connections re-established after a loss
      this.nativeReconnects = 0; // of those, by the API itself (EventSource)
      this.rollovers = 0; // fresh requests started to bound memory, not counted as reconnects
      this.errors = 0; // envelopes that did not parse
      this.lastError = '';
      this.resumedWith = '';
      this.everOpen = false;
      this.gen = 0;
      this.conn = null;
      this.timer = null;
      this.lat = new LatencyWindow();
    }

    connect() {
      clearTimeout(this.timer);
      this.timer = null;
      const gen = ++this.gen;
      this.conn = this.open(this, () => gen === this.gen);
    }

    closeConn() {
      this.gen++;
      if (this.conn) {
        const c = this.conn;
        this.conn = null;
        try { c.close(); } catch (e) { /* already closed */ }
      }
    }

    // The connection ended or failed: reopen after RETRY_MS from the last sequence number.
    lost(reason) {
      this.closeConn();
      if (this.timer) return;
      this.status = 'reconnecting';
      this.lastError = reason;
      log(this.name, `${reason}; reopening in ${RETRY_MS} ms`);
      this.timer = setTimeout(() => this.connect(), RETRY_MS);
    }

    drop() {
      if (this.timer) return;
      this.lost('dropped by the page');
    }

    rollover(why) {
      this.rollovers++;
      log(this.name, `${why}: fresh request after seq ${this.lastSeq}`);
      this.closeConn();
      this.connect();
    }

    opened(how) {
      if (this.status === 'open') return;
      if (this.everOpen) {
        this.reconnects++;
        this.resumedWith = how;
        log(this.name, `resumed ${how}`);
      } else {
        log(this.name, `open ${how}`);
      }
      this.everOpen = true;
      this.status = 'open';
      this.lastError = '';
    }

    // One text envelope: {"topic","seq","data"} or {"topic","gap":{"first_missing","first_available"}}.
    deliver(env, now) {
      if (!env || typeof env !== 'object') return;
      if (env.gap) {
        this.gaps++;
        log(this.name, `gap: ${env.gap.first_missing}..${env.gap.first_available - 1} no longer held`);
        this.lastSeq = Math.max(this.lastSeq, env.gap.first_available - 1);
        return;
      }
      if (typeof env.seq !== 'number') return;
      this.received++;
      if (env.seq <= this.lastSeq) {
        this.duplicates++;
        return;
      }
      this.missing += env.seq - this.lastSeq - 1;
      this.lastSeq = env.seq;
      const probe = parseProbe(env.data);
      if (probe && probe.publisher === PUBLISHER) this.lat.add(now, now - probe.intendedMs);
    }

    deliverText(text, now) {
      let env;
      try {
        env = JSON.parse(text);
      } catch (e) {
        this.errors++;
        this.lastError = `unparsable envelope: ${errText(e)}`;
        return;
      }
      this.deliver(env, now);
    }

    snapshot() {
      return {
        status: this.status,
        received: this.received,
        lastSeq: this.lastSeq,
        gaps: this.gaps,
        duplicates: this.duplicates,
        missing: this.missing,
        reconnects: this.reconnects,
        nativeReconnects: this.nativeReconnects,
        rollovers: this.rollovers,
        errors: this.errors,
        lastError: this.lastError,
        resumedWith: this.resumedWith,
        p50: this.lat.quantile(0.5),
        p99: this.lat.quantile(0.99),
      };
    }
  }

  // ---- the transports, each with its browser API ------------------------------------------

  // Short and long polling with fetch(): each answer is a JSON array of envelopes; ask again
  // with after= the last sequence number.
  const pollConn = (long) => (sub, live) => {
    const ctrl = new AbortController();
    (async () => {
      const first = sub.lastSeq;
      // A held long poll looks the same to the page whether the server holds it or the browser
      // is still queueing it, so each (re)connection starts with timeout=0: its answer, at
      // once, is what shows the row open.
      let timeout = 0;
      while (live()) {
        const after = sub.lastSeq;
        const url = long
          ? `/long-poll?topic=${T}&after=${after}&timeout=${timeout}`
          : `/poll?topic=${T}&after=${after}`;
        timeout = LONG_POLL_TIMEOUT_MS;
        let envelopes;
        try {
          const r = await fetch(url, { cache: 'no-store', signal: ctrl.signal });
          if (!r.ok) throw new Error(`HTTP ${r.status} ${(await r.text()).trim()}`);
          envelopes = await r.json();
        } catch (e) {
          if (live()) sub.lost(`${long ? 'long poll' : 'poll'} failed: ${errText(e)}`);
          return;
        }
        if (!live()) return;
        sub.opened(`with after=${first}`);
        const now = performance.now();
        for (const env of envelopes) sub.deliver(env, now);
        if (!long) await sleep(POLL_MS, ctrl.signal);
      }
    })();
    return { close: () => ctrl.abort() };
  };

  // XHR streaming: NDJSON read out of responseText as it grows. Progress events are what the
  // classic technique listens to (Chromium throttles them to one per 50 ms); readystatechange
  // fires for every chunk, so the row listens to both and reads whatever is new.
  function xhrConn(sub, live) {
    const after = sub.lastSeq;
    const xhr = new XMLHttpRequest();
    let offset = 0;
    const drain = () => {
      if (!live() || xhr.readyState < 2 || xhr.status !== 200) return;
      sub.opened(`with after=${after}`);
      if (xhr.readyState < 3) return;
      const text = xhr.responseText;
      const now = performance.now();
      let nl;
      while ((nl = text.indexOf('\n', offset)) >= 0) {
        const line = text.slice(offset, nl);
        offset = nl + 1;
        if (line.trim() !== '') sub.deliverText(line, now);
      }
      if (offset > XHR_ROLLOVER_CHARS && live()) sub.rollover('responseText passed 1 MiB');
    };
    xhr.onprogress = drain;
    xhr.onreadystatechange = drain;
    xhr.onloadend = () => {
      if (!live()) return;
      drain();
      if (live()) sub.lost(xhr.status ? `stream ended (HTTP ${xhr.status})` : 'stream failed');
    };
    xhr.open('GET', `/stream?topic=${T}&after=${after}`);
    xhr.send();
    return { close: () => xhr.abort() };
  }

  // Hidden-iframe ("htmlfile") streaming: the document's prelude defines p(m), which calls
  // parent.pushbench_iframe(m) with each envelope as a JavaScript object.
  //
  // A document gives no sign when its connection is cut: Chromium fires neither load nor error
  // and leaves it loading forever. Heartbeats (a script calling p(0), which p ignores) still add
  // script elements, so the row watches the document grow and reopens it once it has been
  // silent for two heartbeat intervals.
  function iframeConn(sub, live) {
    const after = sub.lastSeq;
    const frame = document.createElement('iframe');
    frame.hidden = true;
    frame.title = 'iframe transport';
    let count = 0;
    window.pushbench_iframe = (env) => {
      if (!live()) return;
      sub.opened(`with after=${after}`);
      sub.deliver(env, performance.now());
      if (++count === IFRAME_ROLLOVER_MESSAGES) {
        setTimeout(() => live() && sub.rollover(`${count} script elements`), 0);
      }
    };
    let scripts = -1;
    let lastGrowth = performance.now();
    const watch = setInterval(() => {
      if (!live()) return clearInterval(watch);
      let now = -1;
      try {
        const w = frame.contentWindow;
        // Open once the prelude has run: nothing else tells the page the stream is there.
        if (w.location.pathname === '/iframe' && typeof w.p === 'function') {
          sub.opened(`with after=${after}`);
          now = w.document.scripts.length;
        }
      } catch (e) { /* an error page: onload reports it */ }
      const t = performance.now();
      if (now !== scripts) {
        scripts = now;
        lastGrowth = t;
      } else if (t - lastGrowth > IFRAME_SILENCE_MS) {
        sub.lost(`no heartbeat for ${Math.round(t - lastGrowth)} ms`);
      }
    }, 100);
    frame.onload = () => {
      if (!live()) return;
      try {
        if (frame.contentWindow.location.href === 'about:blank') return;
      } catch (e) { /* an error page */ }
      sub.lost('iframe document ended');
    };
    frame.src = `/iframe?topic=${T}&after=${after}`;
    document.body.appendChild(frame);
    return { close: () => { clearInterval(watch); frame.remove(); } };
  }

  // EventSource: opens with after= (a page cannot set Last-Event-ID), then resumes by itself,
  // after the stream's retry: delay, sending Last-Event-ID, which the server prefers to after=.
  function sseConn(sub, live) {
    const after = sub.lastSeq;
    const es = new EventSource(`/sse?topic=${T}&after=${after}`);
    let opens = 0;
    let lastId = '';
    es.onopen = () => {
      if (!live()) return;
      if (++opens > 1) {
        sub.nativeReconnects++;
        sub.opened(`by itself with Last-Event-ID: ${lastId || '(none)'}`);
      } else {
        sub.opened(`with after=${after}`);
      }
    };
    const onEvent = (e) => {
      if (!live()) return;
      lastId = e.lastEventId;
      sub.deliverText(e.data, performance.now());
    };
    es.onmessage = onEvent;
    es.addEventListener('gap', onEvent);
    es.onerror = () => {
      if (!live()) return;
      if (es.readyState === EventSource.CLOSED) {
        sub.lost('EventSource gave up');
      } else if (sub.status === 'open') {
        sub.status = 'reconnecting';
        log(sub.name, `connection lost; EventSource will resend Last-Event-ID: ${lastId || '(none)'}`);
      }
    };
    return { close: () => es.close() };
  }

  function wsConn(sub, live) {
    const after = sub.lastSeq;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws?topic=${T}&after=${after}`);
    ws.onopen = () => live() && sub.opened(`with after=${after}`);
    ws.onmessage = (e) => {
      if (live() && typeof e.data === 'string') sub.deliverText(e.data, performance.now());
    };
    ws.onclose = (e) => {
      if (live()) sub.lost(`closed (${e.code}${e.reason ? ' ' + e.reason : ''})`);
    };
    return { close: () => ws.close(1000, 'dropped by the page') };
  }

  const SUBS = [
    new Sub('short-poll', '/poll', `fetch() every ${POLL_MS} ms`, 'after=', pollConn(false)),
    new Sub('long-poll', '/long-poll', 'fetch(), held until a message', 'after=', pollConn(true)),
    new Sub('xhr-stream', '/stream', 'XMLHttpRequest progress events', 'after=', xhrConn),
    new Sub('iframe', '/iframe', 'hidden <iframe>, one <script> per message', 'after=', iframeConn),
    new Sub('sse', '/sse', 'EventSource', 'Last-Event-ID, by itself', sseConn),
    new Sub('websocket', '/ws', 'WebSocket', 'after=', wsConn),
  ];

  // ---- publishing -------------------------------------------------------------------------

  const pub = { count: 0, lastSeq: 0, errors: 0, skipped: 0, inFlight: 0, lastError: '' };

  // POST /publish with a probe payload; resolves to the sequence number the server assigned.
  async function publishOne(dueMs) {
    const sent = performance.now();
    const body = `${ns(dueMs === undefined ? sent : dueMs)}:${ns(sent)}:${PUBLISHER}:`;
    pub.inFlight++;
    try {
      const r = await fetch(`/publish?topic=${T}`, { method: 'POST', body, cache: 'no-store' });
      const text = await r.text();
      if (!r.ok) throw new Error(`HTTP ${r.status} ${text.trim()}`);
      const seq = JSON.parse(text).seq;
      pub.count++;
      pub.lastSeq = Math.max(pub.lastSeq, seq);
      return seq;
    } catch (e) {
      pub.errors++;
      pub.lastError = errText(e);
      throw e;
    } finally {
      pub.inFlight--;
    }
  }

  // Open loop: message k is due at start + k * period whether or not earlier ones were answered,
  // and latency counts from the due time. A page left in the background catches up at most 1 s.
  let rate = num('rate', 5);
  let schedule = null;
  function setRate(r) {
    rate = Number(r) || 0;
    if (schedule) clearTimeout(schedule.timer);
    schedule = null;
    const select = $('rate');
    if (![...select.options].some((o) => Number(o.value) === rate)) {
      select.add(new Option(`${rate} msg/s`, String(rate)));
    }
    select.value = String(rate);
    if (rate > 0) {
      schedule = { start: performance.now(), k: 0, period: 1000 / rate, timer: 0 };
      tick(schedule);
    }
  }
  function tick(s) {
    let due = s.start + s.k * s.period;
    if (performance.now() - due > 1000) {
      s.start = performance.now();
      s.k = 0;
      due = s.start;
    }
    s.timer = setTimeout(() => {
      if (schedule !== s) return;
      s.k++;
      if (pub.inFlight >= MAX_IN_FLIGHT) pub.skipped++;
      else publishOne(due).catch(() => {});
      tick(s);
    }, Math.max(0, due - performance.now()));
  }

  // ---- joining: every row starts after the newest message the topic holds now ---------------

  let base = null;
  async function join() {
    for (;;) {
      try {
        // A short poll without after= answers everything the topic holds (at most the ring).
        const r = await fetch(`/poll?topic=${T}`, { cache: 'no-store' });
        if (!r.ok) throw new Error(`HTTP ${r.status} ${(await r.text()).trim()}`);
        let newest = 0;
        for (const env of await r.json()) if (typeof env.seq === 'number') newest = Math.max(newest, env.seq);
        return newest;
      } catch (e) {
        log('page', `joining ${TOPIC} failed: ${errText(e)}; retrying`);
        await sleep(RETRY_MS);
      }
    }
  }

  // ---- rendering --------------------------------------------------------------------------

  const cells = new Map();
  function cell(tr, cls, text) {
    const td = document.createElement('td');
    if (cls) td.className = cls;
    if (text !== undefined) td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function buildRows() {
    const tbody = $('rows');
    for (const s of SUBS) {
      const tr = document.createElement('tr');
      tr.dataset.transport = s.name;
      const name = cell(tr, 'name', s.name);
      const path = document.createElement('small');
      path.textContent = `GET ${s.path}`;
      name.appendChild(path);
      const api = cell(tr, 'api', s.api);
      const resume = document.createElement('small');
      resume.textContent = `resumes with ${s.resume}`;
      api.appendChild(resume);
      const status = cell(tr);
      const pill = document.createElement('span');
      status.appendChild(pill);
      const c = {
        pill,
        received: cell(tr, 'num'),
        lastSeq: cell(tr, 'num'),
        gaps: cell(tr, 'num'),
        dupLost: cell(tr, 'num'),
        reconnects: cell(tr, 'num'),
        p50: cell(tr, 'num'),
        p99: cell(tr, 'num'),
      };
      const canvas = document.createElement('canvas');
      canvas.className = 'spark';
      cell(tr, 'spark').appendChild(canvas);
      c.canvas = canvas;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'small';
      button.textContent = 'drop';
      button.title = `close the ${s.name} connection and watch it resume`;
      button.onclick = () => s.drop();
      cell(tr).appendChild(button);
      cells.set(s, c);
      tbody.appendChild(tr);
    }
    const tr = document.createElement('tr');
    tr.className = 'unreachable';
    const name = cell(tr, 'name', 'raw-tcp');
    const small = document.createElement('small');
    small.textContent = 'second port (--tcp)';
    name.appendChild(small);
    const api = cell(tr, 'api', 'none: a page cannot open a TCP socket');
    const why = document.createElement('small');
    why.textContent = 'length-prefixed frames; load-gen measures it as the floor';
    api.appendChild(why);
    const pill = document.createElement('span');
    pill.className = 'pill n-a';
    pill.textContent = 'not reachable';
    cell(tr).appendChild(pill);
    for (let i = 0; i < 7; i++) cell(tr, 'num', '—');
    cell(tr);
    cell(tr);
    tbody.appendChild(tr);
  }

  const fmt = (ms) => (ms === null ? '—' : ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));

  function spark(canvas, lat, now, scale) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
    if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    g.strokeStyle = '#e3e7ec';
    g.beginPath();
    g.moveTo(0, h - 0.5);
    g.lineTo(w, h - 0.5);
    g.stroke();
    g.fillStyle = '#2457c5';
    for (let i = 0; i < lat.t.length; i++) {
      const x = ((lat.t[i] - (now - WINDOW_MS)) / WINDOW_MS) * (w - 2) + 1;
      const y = h - 2 - Math.min(1, lat.v[i] / scale) * (h - 4);
      g.fillRect(x - 1, y - 1, 2.2, 2.2);
    }
  }

  function render() {
    const now = performance.now();
    let scale = 1;
    for (const s of SUBS) {
      s.lat.prune(now);
      scale = Math.max(scale, (s.lat.quantile(0.99) || 0) * 1.15);
    }
    for (const s of SUBS) {
      const c = cells.get(s);
      const snap = s.snapshot();
      c.pill.className = `pill ${snap.status}`;
      c.pill.textContent = snap.status;
      c.pill.title = snap.lastError || snap.resumedWith || '';
      c.received.textContent = snap.received;
      c.lastSeq.textContent = snap.lastSeq;
      c.gaps.textContent = snap.gaps;
      c.dupLost.textContent = `${snap.duplicates} / ${snap.missing}`;
      c.dupLost.classList.toggle('bad', snap.duplicates + snap.missing > 0);
      c.reconnects.textContent = snap.reconnects;
      c.p50.textContent = fmt(snap.p50);
      c.p99.textContent = fmt(snap.p99);
      spark(c.canvas, s.lat, now, scale);
    }
    $('scale').textContent = `(0–${fmt(scale)} ms)`;
    const parts = [
      `published <b>${pub.count}</b>`,
      `joined at seq <b>${base === null ? '…' : base}</b>`,
      `publisher <b>${PUBLISHER}</b>`,
    ];
    if (pub.errors) parts.push(`<span class="bad">${pub.errors} publish errors: ${escapeHtml(pub.lastError)}</span>`);
    if (pub.skipped) parts.push(`${pub.skipped} skipped (server slow)`);
    $('summary').innerHTML = parts.join(' · ');
  }
  const escapeHtml = (s) => s.replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`);

  // ---- wiring -----------------------------------------------------------------------------

  window.pushbench = {
    ready: false,
    state() {
      const transports = {};
      for (const s of SUBS) transports[s.name] = s.snapshot();
      return { topic: TOPIC, publisher: PUBLISHER, base, rate, published: { ...pub }, transports };
    },
    // Publishes n messages one after the other; resolves to their sequence numbers.
    async publish(n) {
      const seqs = [];
      for (let i = 0; i < n; i++) seqs.push(await publishOne());
      return seqs;
    },
    disconnectAll() { for (const s of SUBS) s.drop(); },
    disconnect(name) { SUBS.find((s) => s.name === name).drop(); },
    setRate,
  };

  $('topic').value = TOPIC;
  $('topic').onchange = () => {
    const p = new URLSearchParams(location.search);
    p.set('topic', $('topic').value.trim() || 'demo');
    location.search = p.toString();
  };
  $('rate').onchange = () => setRate($('rate').value);
  $('publish-one').onclick = () => publishOne().catch(() => {});
  $('publish-burst').onclick = () => window.pushbench.publish(50).catch(() => {});
  $('drop-all').onclick = () => window.pushbench.disconnectAll();
  $('retry-ms').textContent = RETRY_MS;
  buildRows();
  render();
  setInterval(render, 250);

  (async () => {
    base = await join();
    $('base').textContent = base;
    log('page', `joined ${TOPIC} at seq ${base}`);
    for (const s of SUBS) {
      s.lastSeq = base;
      s.connect();
    }
    window.pushbench.ready = true;
    setRate(rate);
  })();
})();
