// The warmpool dashboard: polls GET /dashboard/feed every second and redraws.
// Faults and recoveries come from the manager's event log, so a fault that
// recovered between two polls (or before the page was opened) still shows.
// The pools and engines tables come from the admin routes GET /pools and
// GET /engines, polled with the feed.
// The "Last 15 minutes" charts (uPlot) poll GET /dashboard/history less often:
// it holds one sample per scheduler tick, and redrawing 15 minutes each second
// buys nothing.
'use strict';

const PERIOD_MS = 1000;
const HISTORY_PERIOD_MS = 3000;
const CHART_HEIGHT = 220;
const STATES = ['starting', 'ready', 'paused', 'allocated', 'resetting', 'error', 'deleting'];
const TOKEN_KEY = 'warmpool.adminToken';

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-')) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c == null ? '' : String(c)));
  return node;
}

function fill(tbodyId, rows, columns, emptyText) {
  const body = document.getElementById(tbodyId);
  if (rows.length === 0) {
    body.replaceChildren(el('tr', {}, el('td', { class: 'empty', colSpan: columns }, emptyText)));
  } else {
    body.replaceChildren(...rows);
  }
}

function time(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : '';
}

function left(iso, now) {
  const s = Math.round((new Date(iso).getTime() - now) / 1000);
  if (s <= 0) return 'expiring';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m ${s % 60}s` : `${s}s`;
}

function stateBadge(state) {
  return el('span', { class: `state s-${state}` }, state);
}

function drawStates(feed) {
  const byState = feed.pool.byState || {};
  const tiles = STATES.map((s) =>
    el('div', { class: `tile s-${s}`, 'data-state': s }, el('span', { class: 'count' }, byState[s] || 0), s));
  document.getElementById('state-tiles').replaceChildren(...tiles);
  const p = feed.pool;
  document.getElementById('pool-line').textContent =
    `min idle ${p.minIdle}, max idle ${p.maxIdle}, keep running ${p.keepRunning}, ` +
    `max instances ${p.maxInstances}; busy ${p.busy}, allocations waiting ${p.waitingAllocations}`;
}

function drawQueues(feed) {
  const rows = ['high', 'normal'].map((lane) => {
    const q = feed.queues[lane];
    return el('tr', { 'data-lane': lane }, el('td', {}, lane), el('td', {}, q.queued), el('td', {}, q.running),
      el('td', {}, q.completed), el('td', {}, q.expired), el('td', {}, q.rejected));
  });
  fill('queue-rows', rows, 6, '');
}

function drawAllocations(feed, now) {
  const rows = feed.allocations.map((a) =>
    el('tr', { 'data-allocation-id': a.id },
      el('td', { class: 'mono', title: a.id }, a.id.slice(0, 12) + '\u2026'),
      el('td', {}, a.instance), el('td', { class: 'mono' }, a.endpoint), el('td', {}, a.client),
      el('td', {}, time(a.createdAt)), el('td', {}, time(a.expiresAt)), el('td', {}, left(a.expiresAt, now))));
  document.getElementById('allocation-count').textContent = `(${feed.allocations.length})`;
  fill('allocation-rows', rows, 7, 'no current allocation');
}

function drawInstances(feed) {
  const rows = feed.instances.map((i) =>
    el('tr', { 'data-instance-id': String(i.id) },
      el('td', {}, i.id), el('td', {}, stateBadge(i.state)), el('td', { class: 'mono' }, i.endpoint),
      el('td', { class: 'mono', title: i.allocation || '' }, i.allocation ? i.allocation.slice(0, 12) + '\u2026' : ''),
      el('td', {}, i.failures), el('td', {}, i.restarts), el('td', { class: 'err' }, i.lastError || ''),
      el('td', {}, time(i.updatedAt))));
  fill('instance-rows', rows, 8, 'no instance');
}

function drawJobs(feed) {
  if (feed.piJobs === null) {
    fill('job-rows', [], 5, 'pi jobs are not enabled on this manager');
    return;
  }
  const rows = feed.piJobs.map((j) => {
    const pct = Math.round(100 * (j.progress || 0));
    return el('tr', { 'data-job-id': j.job_id },
      el('td', {}, j.job_id), el('td', {}, j.digits), el('td', {}, j.status),
      el('td', { title: `${pct}%` }, el('div', { class: 'bar' }, el('div', { style: `width:${pct}%` })), `${pct}%`),
      el('td', {}, j.time_elapsed));
  });
  fill('job-rows', rows, 5, 'no pi job yet');
}

function drawFaults(feed) {
  const rows = feed.faults.map((e) =>
    el('tr', { 'data-kind': e.kind }, el('td', {}, time(e.at)), el('td', {}, e.instance),
      el('td', { class: `k-${e.kind}` }, e.kind), el('td', {}, e.detail || `${e.from} -> ${e.to}`)));
  fill('fault-rows', rows, 4, 'no fault so far');
}

function drawPools(pools) {
  const rows = pools.map((p) => {
    const counts = STATES.filter((s) => p.instances[s]).map((s) => el('span', { class: `state s-${s}` }, `${s} ${p.instances[s]}`));
    return el('tr', { 'data-pool': p.name, 'data-state': p.state },
      el('td', {}, p.name), el('td', {}, p.state), el('td', {}, `${p.minIdle} / ${p.maxIdle}`),
      el('td', {}, el('div', { class: 'states' }, ...(counts.length ? counts : ['none']))),
      el('td', { class: 'mono' }, p.image), el('td', {}, `${p.health} / ${p.reset}`));
  });
  document.getElementById('pool-count').textContent = `(${pools.length})`;
  fill('pool-rows', rows, 6, 'no pool');
}

function drawEngines(engines) {
  const rows = engines.map((e) =>
    el('tr', { 'data-engine': e.name, 'data-state': e.state },
      el('td', {}, e.name), el('td', {}, e.state),
      el('td', {}, e.capacity > 0 ? `${e.instances} / ${e.capacity}` : `${e.instances} / no limit`),
      el('td', { class: 'err' }, e.error || '')));
  fill('engine-rows', rows, 4, 'no engine');
}

// GET `path` with the admin token; its JSON, or null when it did not answer 200.
async function adminJson(path, token) {
  const res = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {}, cache: 'no-store' });
  return res.ok ? res.json() : null;
}

// Each chart: its element and series (label, colour, field of a sample).
const CHARTS = [
  {
    id: 'chart-pool',
    series: [
      ['arrivals/s', '#3d8bfd', 'arrivalsPerSecond'],
      ['in use', '#e08a00', 'inUse'],
      ['idle running', '#1e8449', 'idleRunning'],
      ['idle paused', '#7f9cc9', 'idlePaused'],
      ['target idle', '#8e44ad', 'targetIdle'],
    ],
  },
  {
    id: 'chart-handout',
    series: [
      ['p50 ms', '#3d8bfd', 'handOutP50Ms'],
      ['p99 ms', '#c0392b', 'handOutP99Ms'],
    ],
  },
];
const plots = new Map();  // chart id -> uPlot

function chartWidth(id) {
  return Math.max(200, document.getElementById(id).clientWidth);
}

function makePlot(chart) {
  const opts = {
    width: chartWidth(chart.id),
    height: CHART_HEIGHT,
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    series: [{}, ...chart.series.map(([label, stroke]) => ({
      label, stroke, width: 1.5, value: (u, v) => (v == null ? '-' : +v.toFixed(2)),
    }))],
  };
  return new uPlot(opts, [[], ...chart.series.map(() => [])], document.getElementById(chart.id));
}

function drawHistory(history) {
  const samples = history.samples;
  const xs = samples.map((s) => new Date(s.at).getTime() / 1000);
  for (const chart of CHARTS) {
    if (!plots.has(chart.id)) plots.set(chart.id, makePlot(chart));
    plots.get(chart.id).setData([xs, ...chart.series.map(([, , field]) => samples.map((s) => s[field]))]);
  }
  const section = document.getElementById('history');
  section.dataset.points = String(samples.length);
  section.dataset.lastSample = samples.length ? samples[samples.length - 1].at : '';
  document.getElementById('history-note').textContent =
    samples.length ? '' : '(no sample yet: one comes each scheduler tick)';
}

async function pollHistory() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  try {
    // A refused token shows through the feed's poll, which asks for another.
    const res = await fetch('/dashboard/history', {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      cache: 'no-store',
    });
    if (res.ok) drawHistory(await res.json());
  } catch (e) {
    // The feed's poll shows the manager as disconnected.
  } finally {
    setTimeout(pollHistory, HISTORY_PERIOD_MS);
  }
}

window.addEventListener('resize', () => {
  for (const [id, plot] of plots) plot.setSize({ width: chartWidth(id), height: CHART_HEIGHT });
});

function setStatus(text, live) {
  const s = document.getElementById('status');
  s.textContent = text;
  s.className = live ? 'live' : 'down';
}

async function poll() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  try {
    const res = await fetch('/dashboard/feed', {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      cache: 'no-store',
    });
    if (res.status === 401) {
      document.getElementById('login').classList.add('shown');
      setStatus(token ? 'the admin token was refused' : 'admin token needed', false);
      return;
    }
    if (!res.ok) throw new Error(`feed answered ${res.status}`);
    const feed = await res.json();
    const [pools, engines] = await Promise.all([adminJson('/pools', token), adminJson('/engines', token)]);
    document.getElementById('login').classList.remove('shown');
    const now = Date.now();
    drawStates(feed);
    drawQueues(feed);
    drawAllocations(feed, now);
    drawInstances(feed);
    drawJobs(feed);
    drawFaults(feed);
    if (pools) drawPools(pools);
    if (engines) drawEngines(engines);
    setStatus(`live, updated ${new Date(now).toLocaleTimeString()}`, true);
  } catch (e) {
    setStatus(`disconnected (${e.message}), retrying`, false);
  } finally {
    setTimeout(poll, PERIOD_MS);
  }
}

document.getElementById('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById('token').value);
});

poll();
pollHistory();
