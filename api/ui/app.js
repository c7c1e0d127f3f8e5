// hostagent status page: one plain ES module, no dependencies. It reads the
// agent's REST API and WebSocket on its own origin, writes text only (never
// HTML from strings), and sends the token only as a header.
const $ = (s, el = document) => el.querySelector(s);
const TOKEN_KEY = 'hostagent.token';
const MAX_EVENTS = 500;

const st = {
  services: new Map(), // name -> ServiceStatus
  plan: null,
  planBy: new Map(), // name -> plan service
  progress: null,
  events: [], // this agent run's events, by seq
  seen: new Set(),
  lastSeq: 0,
  gpu: null,
  cards: new Map(), // name -> card element
  layout: '',
};

function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) if (k != null && k !== false) el.append(k instanceof Node ? k : String(k));
  return el;
}

async function api(path, opts = {}) {
  const r = await fetch(path, { cache: 'no-store', credentials: 'omit', ...opts });
  let body = null;
  try { body = await r.json(); } catch { /* not JSON */ }
  if (!r.ok) {
    const e = new Error((body && body.error) || `${r.status} ${r.statusText}`);
    e.status = r.status;
    throw e;
  }
  return body;
}

// ---- formatting

function dur(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor(s % 3600 / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor(s % 86400 / 3600)} h`;
}
const since = (t) => (Date.now() - Date.parse(t)) / 1000;
const gib = (b) => `${(b / 2 ** 30).toFixed(1)} GiB`;
const clock = (t) => new Date(t).toLocaleTimeString([], { hour12: false });
const LABEL = { running: 'RUNNING', starting: 'STARTING', unhealthy: 'UNHEALTHY', stopped: 'STOPPED', not_found: 'NOT FOUND', disabled: 'DISABLED' };

// tone is the colour class: ok, warn (starting), wait (blocked on
// dependencies), fail, off (disabled).
function tone(s) {
  if (!s.enabled || s.status === 'disabled') return 'off';
  if (s.status === 'running') return 'ok';
  if (s.status === 'starting') return 'warn';
  if (s.waiting_for && s.waiting_for.length && !s.next_restart_at && !s.failure_count) return 'wait';
  return 'fail';
}
function word(s) {
  if (!s.enabled) return 'DISABLED';
  if (tone(s) === 'wait') return 'WAITING';
  return LABEL[s.status] || String(s.status).toUpperCase();
}

function ports(s) {
  const p = st.planBy.get(s.name);
  if (p && p.ports && p.ports.length) {
    return p.ports.map((x) => `${x.host_port ? `${x.host_ip ? x.host_ip + ':' : ''}${x.host_port}→` : ''}${x.container_port}/${x.protocol || 'tcp'}`).join(', ');
  }
  return s.port ? String(s.port) : '';
}

// The agent reports a check when the service's state changes, so the time
// shown is that report's, not necessarily the newest probe's.
function health(s) {
  let t = s.health_method || 'none';
  if (s.last_check_at) {
    t += ` · ${s.last_check_ok ? 'ok' : 'failed'}`;
    if (s.last_check_ms) t += `, ${s.last_check_ms.toFixed(1)} ms`;
    t += ` (reported ${clock(s.last_check_at)})`;
  } else if (s.health_method && s.health_method !== 'none') {
    t += ' · not checked yet';
  }
  return t;
}

function backoff(s) {
  if (!s.next_restart_at) return '';
  const left = -since(s.next_restart_at);
  return left > 0 ? `restart in ${Math.ceil(left)} s` : 'restart due';
}

// Each field: [key, label, value]; an empty value hides the row.
const FIELDS = [
  ['uptime', 'Uptime', (s) => (s.started_at && (s.status === 'running' || s.status === 'starting') ? dur(since(s.started_at)) : '')],
  ['restarts', 'Restarts', (s) => String(s.restart_count ?? 0)],
  ['failures', 'Failures', (s) => String(s.failure_count ?? 0)],
  ['health', 'Health', health],
  ['detail', 'Note', (s) => (!s.enabled ? `DISABLED${s.detail ? ': ' + s.detail : ''}` : s.detail || '')],
  ['waiting', 'Waits for', (s) => (s.waiting_for || []).join(', ')],
  ['backoff', 'Backoff', backoff],
  ['container', 'Container', (s) => s.container_id || ''],
  ['image', 'Image', (s) => s.image || ''],
  ['ports', 'Ports', ports],
];

// ---- stack

function card(name) {
  let c = st.cards.get(name);
  if (c) return c;
  const dl = h('dl');
  for (const [key, label] of FIELDS) dl.append(h('div', { 'data-f': key }, h('dt', {}, label), h('dd')));
  c = h('article', { class: 'svc', 'data-service': name },
    h('header', {}, h('h4', {}, h('span', { class: 'dn' }), ' ', h('small', {}, name), h('span', { class: 'gpu-tag', hidden: true }, 'GPU')),
      h('span', { class: 'badge', 'aria-label': 'state' })),
    dl,
    h('div', { class: 'actions' },
      h('button', { type: 'button', 'data-a': 'restart', onclick: () => act(name, 'restart') }, 'Restart'),
      h('button', { type: 'button', 'data-a': 'toggle', onclick: () => act(name, st.services.get(name)?.enabled === false ? 'enable' : 'disable') }, 'Disable')));
  st.cards.set(name, c);
  return c;
}

function paintCard(s) {
  const c = card(s.name);
  c.dataset.status = s.status;
  c.dataset.tone = tone(s);
  $('.dn', c).textContent = s.display_name || s.name;
  $('small', c).hidden = !s.display_name || s.display_name === s.name;
  $('.gpu-tag', c).hidden = !s.gpu;
  $('.badge', c).textContent = word(s);
  for (const [key, , val] of FIELDS) {
    const row = $(`[data-f="${key}"]`, c);
    const v = val(s);
    row.hidden = v === '';
    $('dd', row).textContent = v;
  }
  const t = $('[data-a="toggle"]', c);
  t.textContent = s.enabled ? 'Disable' : 'Enable';
  t.setAttribute('aria-label', `${s.enabled ? 'Disable' : 'Enable'} ${s.name}`);
  $('[data-a="restart"]', c).setAttribute('aria-label', `Restart ${s.name}`);
}

function groups() {
  const out = [];
  const placed = new Set();
  if (st.plan) {
    for (const p of st.plan.phases || []) out.push({ title: `Phase ${p.phase} · ${p.name}`, names: p.services });
    for (const p of st.plan.monitoring || []) out.push({ title: `Monitoring · ${p.name}`, names: p.services });
    out.forEach((g) => g.names.forEach((n) => placed.add(n)));
  }
  const rest = [...st.services.values()].filter((s) => !placed.has(s.name)).sort((a, b) => a.phase - b.phase || a.name.localeCompare(b.name));
  const byPhase = new Map();
  for (const s of rest) {
    const k = s.track === 'monitoring' ? 'Monitoring' : `Phase ${s.phase}`;
    if (!byPhase.has(k)) byPhase.set(k, []);
    byPhase.get(k).push(s.name);
  }
  for (const [title, names] of byPhase) out.push({ title, names });
  return out;
}

function renderStack() {
  const gs = groups();
  const sig = JSON.stringify(gs);
  if (sig !== st.layout) {
    st.layout = sig;
    const root = $('#phases');
    root.replaceChildren(...gs.map((g) => h('section', { class: 'phase', 'data-phase': g.title },
      h('h3', {}, h('span', {}, g.title), h('span', { class: 'count' })),
      h('div', { class: 'cards' }, g.names.map(card)))));
  }
  for (const s of st.services.values()) paintCard(s);
  for (const sec of document.querySelectorAll('#phases .phase')) {
    const names = [...sec.querySelectorAll('.svc')].map((c) => c.dataset.service);
    const up = names.filter((n) => st.services.get(n)?.status === 'running').length;
    $('.count', sec).textContent = `${up}/${names.length} running`;
  }
  renderSummary();
}

function renderSummary() {
  const p = st.progress;
  if (!p) return;
  let t;
  if (p.engine_error) t = `Waiting for the container engine: ${p.engine_error}`;
  else if (p.done) t = `All phases up · ${p.running}/${p.total} services running`;
  else t = `Bringing up phase ${p.phase} of ${p.phases} · ${p.running}/${p.total} running${p.waiting && p.waiting.length ? ` · waiting for ${p.waiting.join(', ')}` : ''}`;
  $('#summary').textContent = t;
  $('#project').textContent = st.plan && st.plan.project ? `· ${st.plan.project}` : '';
}

// ---- actions

const token = () => sessionStorage.getItem(TOKEN_KEY) || '';

function showAuth() {
  $('#auth-none').hidden = !!token();
  $('#auth-ok').hidden = !token();
}

function notice(text, kind) {
  const n = $('#notice');
  n.textContent = text;
  n.dataset.kind = kind;
}

function confirmAction(name, action) {
  const d = $('#confirm');
  $('#confirm-text').textContent = { restart: `Restart ${name}?`, enable: `Enable ${name}? The agent will start and supervise it again.`, disable: `Disable ${name}? The agent stops it and leaves it stopped.` }[action];
  $('#reset-wrap').hidden = action !== 'restart';
  $('#reset').checked = false;
  $('#confirm-ok').textContent = action[0].toUpperCase() + action.slice(1);
  d.returnValue = '';
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok' ? { reset: $('#reset').checked } : null), { once: true });
    d.showModal();
  });
}

async function act(name, action) {
  if (!token()) {
    notice(`To ${action} ${name}, enter the agent's token under Control first: it is in /etc/hostagent/token, and only root can read it (sudo cat /etc/hostagent/token). Nothing was changed.`, 'warn');
    $('#token').focus();
    return;
  }
  const ok = await confirmAction(name, action);
  if (!ok) return;
  const q = action === 'restart' && ok.reset ? '?reset_failures=true' : '';
  try {
    const b = await api(`/api/system/services/${encodeURIComponent(name)}/${action}${q}`,
      { method: 'POST', headers: { Authorization: `Bearer ${token()}` } });
    notice(`${name}: ${b.message}`, 'ok');
  } catch (e) {
    if (e.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showAuth();
      notice(`The agent refused the token (${e.message}). Enter it again: it is in /etc/hostagent/token, readable by root. Nothing was changed.`, 'err');
    } else {
      notice(`${name}: ${action} failed: ${e.message}`, 'err');
    }
  }
}

// ---- events

function evItem(ev) {
  const s = ev.data || {};
  return h('li', { 'data-service': s.name || '', 'data-seq': ev.seq, 'data-tone': s.name ? tone(s) : '', hidden: filtered(s.name) },
    h('time', { datetime: ev.timestamp }, clock(ev.timestamp)), ' ',
    h('strong', {}, s.name || ''), ' ', h('span', { class: 'msg' }, ev.message), ' ',
    h('span', { class: 'st' }, s.name ? word(s) : ''));
}

const filtered = (name) => { const f = $('#ev-filter').value; return !!f && f !== name; };

function addEvent(ev, live) {
  if (!ev.seq || st.seen.has(ev.seq)) return;
  st.seen.add(ev.seq);
  let i = st.events.length;
  while (i > 0 && st.events[i - 1].seq > ev.seq) i--;
  st.events.splice(i, 0, ev);
  if (st.events.length > MAX_EVENTS) st.events.shift();
  const list = $('#ev-list');
  const li = evItem(ev);
  // Newest first; an older event from the history goes below newer ones.
  let at = list.firstChild;
  if (!live) while (at && at.dataset.seq && +at.dataset.seq > ev.seq) at = at.nextSibling;
  list.insertBefore(li, at);
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
  addFilterOption(ev.data && ev.data.name);
}

function addFilterOption(name) {
  const sel = $('#ev-filter');
  if (!name || [...sel.options].some((o) => o.value === name)) return;
  sel.append(h('option', { value: name }, name));
}

// ---- timeline

// bringups finds, per service, its first start and readiness in the latest
// bring-up: this agent run's, or the last reload's (from its first "Service
// recreated"). Later restarts are counted, not drawn, so that one crash an
// hour later does not stretch the chart.
function bringups() {
  let epoch = 0;
  for (const ev of st.events) if (ev.message === 'Service recreated') epoch = Date.parse(ev.timestamp);
  if (epoch) {
    // The reload's first recreate: step back over the recreates just before it.
    for (let i = st.events.length - 1; i >= 0; i--) {
      const t = Date.parse(st.events[i].timestamp);
      if (st.events[i].message === 'Service recreated' && epoch - t < 30000) epoch = t;
    }
  }
  const out = new Map();
  for (const ev of st.events) {
    const s = ev.data;
    const t = Date.parse(ev.timestamp);
    if (!s || !s.name || t < epoch) continue;
    let a = out.get(s.name);
    if (s.status === 'starting' && (!a || a.last !== 'starting')) {
      if (!a) a = { began: t, restarts: 0 };
      else if (a.ready || a.adopted) a.restarts++;
    } else if (s.status === 'running' && (!a || (a.began && !a.ready))) {
      if (!a) a = { adopted: true, restarts: 0 };
      else a.ready = t;
    }
    if (a) { a.last = s.status; out.set(s.name, a); }
  }
  return { epoch, runs: out };
}

function renderGantt() {
  const root = $('#gantt');
  const p = st.plan;
  if (!p) { root.textContent = 'No plan loaded.'; return; }
  const crit = new Set(p.critical_path || []);
  const rows = [...p.services].sort((a, b) => a.earliest_start_s - b.earliest_start_s || a.phase - b.phase || a.name.localeCompare(b.name));
  const { epoch, runs: got } = bringups();
  const begins = [...got.values()].filter((a) => a.began).map((a) => a.began);
  const origin = begins.length ? Math.min(...begins) : 0;
  let span = Math.max(p.makespan_s || 0, 1);
  let live = false;
  for (const a of got.values()) {
    if (!a.began) continue;
    const end = a.ready || Date.now();
    if (!a.ready) live = true;
    span = Math.max(span, (end - origin) / 1000);
  }
  const pct = (s) => `${(100 * s / span).toFixed(2)}%`;
  const out = rows.map((ps) => {
    const a = got.get(ps.name);
    const plan = h('div', { class: 'bar plan', title: `plan: ready at ${ps.earliest_ready_s.toFixed(1)} s (estimate ${ps.startup_estimate_s.toFixed(1)} s)` });
    plan.style.left = pct(ps.earliest_start_s);
    plan.style.width = pct(Math.max(ps.earliest_ready_s - ps.earliest_start_s, span / 200));
    const track = h('div', { class: 'track' }, plan);
    let val = `plan ${ps.earliest_ready_s.toFixed(1)} s`;
    if (a && a.began) {
      const b0 = (a.began - origin) / 1000;
      const b1 = ((a.ready || Date.now()) - origin) / 1000;
      const real = h('div', { class: `bar real${a.ready ? '' : ' open'}` });
      real.style.left = pct(b0);
      real.style.width = pct(Math.max(b1 - b0, span / 200));
      track.append(real);
      val = a.ready ? `ready ${b1.toFixed(1)} s · ${val}` : `starting… · ${val}`;
      if (a.restarts) val += ` · restarted ${a.restarts}× since`;
    } else if (a && a.adopted) {
      val = `${epoch ? 'kept by the reload' : 'already running (adopted)'} · ${val}${a.restarts ? ` · restarted ${a.restarts}× since` : ''}`;
    } else {
      val = `not started · ${val}`;
    }
    return h('div', { class: `grow${crit.has(ps.name) ? ' crit' : ''}`, 'data-service': ps.name },
      h('span', { class: 'gname' }, crit.has(ps.name) ? '★ ' : '', ps.name), track, h('span', { class: 'gval' }, val));
  });
  out.push(h('div', { class: 'grow axis', 'aria-hidden': 'true' }, h('span'), h('div', { class: 'track' },
    h('span', {}, '0 s'), h('span', {}, `${(span / 2).toFixed(0)} s`), h('span', {}, `${span.toFixed(0)} s`)), h('span')));
  root.replaceChildren(...out);
  st.ganttLive = live;
}

// ---- GPU

function renderGPU() {
  const g = st.gpu;
  const root = $('#gpu-body');
  if (!g) return;
  const parts = [];
  if (!g.available) {
    parts.push(h('p', { class: 'nogpu', id: 'nvml' }, h('strong', {}, 'NVML unavailable'),
      g.reason && g.reason !== 'NVML unavailable' ? ` — ${g.reason}` : ''));
  }
  const use = new Map();
  for (const d of g.devices || []) {
    const procs = d.processes || [];
    for (const pr of procs) if (pr.service) use.set(pr.service, (use.get(pr.service) || 0) + pr.used_bytes);
    const m = h('meter', { min: 0, max: d.total_bytes, value: d.used_bytes, 'aria-label': `GPU ${d.index} memory used` });
    parts.push(h('div', { class: 'dev' }, h('h3', {}, `GPU ${d.index} · ${d.name}`), m,
      h('p', {}, `${gib(d.used_bytes)} used of ${gib(d.total_bytes)} · ${gib(d.free_bytes)} free`),
      procs.length ? h('ul', {}, procs.map((pr) => h('li', {}, `${pr.service || 'pid ' + pr.pid}: ${gib(pr.used_bytes)}`))) : null));
  }
  const gsvcs = [...st.services.values()].filter((s) => s.gpu || st.planBy.get(s.name)?.gpu);
  if (gsvcs.length) {
    parts.push(h('table', {}, h('caption', {}, 'GPU services'),
      h('thead', {}, h('tr', {}, ['Service', 'Using now', 'Learned need', 'Declared need'].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, gsvcs.map((s) => h('tr', { 'data-service': s.name }, h('th', { scope: 'row' }, s.name),
        h('td', {}, use.has(s.name) ? gib(use.get(s.name)) : '—'),
        h('td', {}, s.learned_vram_bytes ? gib(s.learned_vram_bytes) : '—'),
        h('td', {}, st.planBy.get(s.name)?.vram_bytes ? gib(st.planBy.get(s.name).vram_bytes) : '—'))))));
  } else {
    parts.push(h('p', {}, 'No service in this stack asks for a GPU.'));
  }
  const q = g.waiting || [];
  parts.push(h('h3', {}, 'GPU lane queue'));
  if (!q.length) parts.push(h('p', {}, 'Nothing waits for the GPU lane.'));
  else {
    parts.push(h('ol', { class: 'queue' }, q.map((w, i) => h('li', {},
      h('strong', {}, w.service), ` (${w.op}) ${i === 0 ? 'is at the head and waits: ' : 'waits: '}${w.reason}`,
      w.since ? ` · for ${dur(since(w.since))}` : ''))));
  }
  root.replaceChildren(...parts);
}

async function loadGPU() {
  try { st.gpu = await api('/api/system/gpu'); } catch (e) { st.gpu = { available: false, reason: `GPU status unreadable: ${e.message}` }; }
  renderGPU();
}

// ---- loading and the live stream

function setServices(list, progress) {
  st.services = new Map(list.map((s) => [s.name, s]));
  if (progress) st.progress = progress;
  for (const s of list) addFilterOption(s.name);
  renderStack();
}

async function loadPlan() {
  try {
    st.plan = await api('/api/system/plan');
    st.planBy = new Map(st.plan.services.map((s) => [s.name, s]));
  } catch { st.plan = null; st.planBy = new Map(); }
}

// wsApplied counts WebSocket messages applied to st.services. A REST read
// that a message overtook is older than what the page shows: dropped.
let wsApplied = 0;

async function loadAll() {
  const before = wsApplied;
  const [, svcs, evs] = await Promise.allSettled([loadPlan(), api('/api/system/services'), api(`/api/system/health/events?limit=${MAX_EVENTS}`)]);
  if (svcs.status === 'fulfilled') {
    if (wsApplied === before) setServices(svcs.value.services, svcs.value.progress);
  } else $('#summary').textContent = `Cannot read the agent's status: ${svcs.reason.message}`;
  if (evs.status === 'fulfilled') for (const ev of evs.value.events) addEvent(ev, false);
  renderStack();
  renderGantt();
  loadGPU();
}

let replanning = null;
function replan() {
  if (replanning) return;
  replanning = setTimeout(async () => {
    await loadPlan();
    replanning = null;
    st.layout = '';
    renderStack();
    renderGantt();
  }, 300);
}

function setConn(state, text) {
  const c = $('#conn');
  c.dataset.state = state;
  c.textContent = text;
}

let retries = 0;
let connectedOnce = false;

function onMessage(m) {
  if (m.type === 'snapshot') {
    if (m.seq < st.lastSeq) {
      // A new agent process: its event numbers start again.
      st.seen.clear();
      st.events = [];
      $('#ev-list').prepend(h('li', { class: 'sep' }, 'The agent restarted'));
    }
    st.lastSeq = m.seq;
    wsApplied++;
    setServices(m.data.services, m.data.progress);
    return;
  }
  if (m.type !== 'service_status' || !m.data) return;
  st.lastSeq = Math.max(st.lastSeq, m.seq || 0);
  wsApplied++;
  if (m.message === 'Service removed') {
    st.services.delete(m.data.name);
    st.cards.get(m.data.name)?.remove();
    st.cards.delete(m.data.name);
  } else {
    st.services.set(m.data.name, m.data);
  }
  // A reload changes the plan: read it again (once per burst of events).
  if (m.message === 'Service recreated' || m.message === 'Service removed' || (st.plan && !st.planBy.has(m.data.name))) replan();
  addEvent(m, true);
  renderStack();
  renderGantt();
  // The summary's counts come with snapshots and REST; recount here.
  if (st.progress) st.progress.running = [...st.services.values()].filter((s) => s.status === 'running').length;
  renderSummary();
}

function connect() {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/system/ws`);
  ws.onopen = () => {
    setConn('live', connectedOnce ? 'Reconnected to the agent · live' : 'Live · connected to the agent');
    if (connectedOnce) loadAll();
    connectedOnce = true;
    retries = 0;
  };
  ws.onmessage = (e) => {
    let m;
    try { m = JSON.parse(e.data); } catch { return; }
    onMessage(m);
  };
  ws.onclose = () => {
    const wait = Math.min(5000, 250 * 2 ** retries++);
    setConn('down', `Lost the connection to the agent; reconnecting in ${(wait / 1000).toFixed(1)} s (attempt ${retries})…`);
    setTimeout(connect, wait);
  };
}

function tick() {
  for (const s of st.services.values()) {
    if (s.started_at || s.next_restart_at || s.last_check_at) paintCard(s);
  }
  if (st.ganttLive) renderGantt();
}

function init() {
  showAuth();
  $('#token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = $('#token').value.trim();
    if (!v) return;
    sessionStorage.setItem(TOKEN_KEY, v);
    $('#token').value = '';
    showAuth();
    notice('Token set for this tab.', 'ok');
  });
  $('#forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showAuth();
    notice('Token forgotten.', 'ok');
  });
  $('#ev-filter').addEventListener('change', () => {
    for (const li of $('#ev-list').children) if (li.dataset.service !== undefined) li.hidden = filtered(li.dataset.service);
  });
  // "First meaningful render": every service card drawn (make bench reads it).
  loadAll().then(() => {
    document.body.dataset.ready = 'true';
    requestAnimationFrame(() => performance.mark('hostagent-rendered'));
  });
  connect();
  setInterval(tick, 1000);
  setInterval(loadGPU, 5000);
}

init();
