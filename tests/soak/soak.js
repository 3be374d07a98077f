// The soak: one `warmpool serve` under mixed traffic for --minutes, with its
// resources printed every minute. On demand (scripts/soak), not in ctest.
//
// Traffic: 50 clients allocating, holding 50-500 ms and releasing; a pi job
// every 10 s (fetched when done); list and admin reads every second, the
// whole allocation history once a minute; a burst of 100
// hand-outs at once every minute; a few bad requests. Each minute prints the
// manager's RSS, open file descriptors and threads, the database's size
// (with its WAL), the engine's container count for this manager, and the
// minute's requests by outcome. At the end: growth after the first 5
// minutes (goal: within 10%) and failed hand-outs other than 429/503.
//
//   node tests/soak/soak.js --bin build/manager/warmpool --engine unix:///... [--minutes 30]
//        [--keep-finished-hours 0.1]
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) => {
  if (a.startsWith('--')) pairs.push([a.slice(2), all[i + 1]]);
  return pairs;
}, []));
const minutes = Number(args.minutes || 30);
const port = Number(args.port || 33002);
const bin = args.bin;
const engine = args.engine;
const clients = Number(args.clients || 50);
// Finished records older than this are pruned, so that a half-hour soak
// reaches the steady state a week's retention reaches in production.
const keepHours = String(args['keep-finished-hours'] || '0.1');
if (!bin || !engine) throw new Error('usage: soak.js --bin WARMPOOL --engine unix:///SOCKET [--minutes 30] [--port 33002]');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const base = `http://127.0.0.1:${port}`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

// One request; resolves {status, body} or {status: 0} when no answer came.
function call(method, url, body, timeout = 30000) {
  return new Promise((resolve) => {
    const data = body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request(`${base}${url}`, {
      method, agent, timeout,
      headers: data === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) },
    }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: text, link: res.headers.link }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
    if (data !== undefined) req.write(data);
    req.end();
  });
}

function engineCall(urlPath) {
  const socketPath = engine.replace(/^unix:\/\//, '');
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: `/v1.41${urlPath}`, timeout: 10000 }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve(JSON.parse(text)));
    });
    req.on('error', reject);
    req.end();
  });
}

const counts = {};  // "what status" -> n, for the current minute
let failedHandOuts = 0;  // not 201, 429 or 503
const note = (what, status) => { const k = `${what} ${status}`; counts[k] = (counts[k] || 0) + 1; };
let running = true;

async function handOutLoop() {
  while (running) {
    const a = await call('POST', '/allocations', { lease_seconds: 60, client: 'soak', timeout_ms: 5000 });
    note('alloc', a.status);
    if (a.status === 201) {
      await sleep(50 + Math.random() * 450);
      const d = await call('DELETE', `/allocations/${JSON.parse(a.body).id}`);
      note('release', d.status);
    } else {
      if (a.status !== 429 && a.status !== 503) failedHandOuts += 1;
      await sleep(200);
    }
  }
}

async function piJobLoop() {
  while (running) {
    const j = await call('POST', '/pi_job', { digits: 2000 + Math.floor(Math.random() * 3000) });
    note('pi_job', j.status);
    if (j.status === 200 || j.status === 201 || j.status === 202) {
      const id = JSON.parse(j.body).job_id;
      for (let k = 0; k < 60 && running; ++k) {
        await sleep(500);
        const s = await call('GET', `/pi_job/${id}`);
        if (s.status === 200 && /"(complete|failed|cancelled)"/i.test(s.body)) {
          const r = await call('GET', `/download_pi_job/${id}`);
          note('pi_result', r.status);
          break;
        }
      }
    }
    await sleep(10000);
  }
}

// The whole allocation history, page by page as its Link headers lead.
async function readHistory() {
  let url = '/allocations?show=all';
  for (let pages = 0; url && pages < 1000; ++pages) {
    const r = await call('GET', url);
    note('GET /allocations?show=all (a page)', r.status);
    const next = r.status === 200 && r.link && /^<([^>]+)>; rel="next"$/.exec(r.link);
    url = next ? next[1] : '';
  }
}

// Every second the reads a dashboard or an operator makes; once a minute
// the whole history (show=all), which grows with the records.
async function readLoop() {
  const paths = ['/allocations', '/allocations?client=soak', '/instances', '/details', '/metrics', '/health', '/events'];
  for (let tick = 0; running; ++tick) {
    for (const p of paths) note(`GET ${p.split('?')[0]}`, (await call('GET', p)).status);
    if (tick % 60 === 59) await readHistory();
    await sleep(1000);
  }
}

async function badLoop() {
  while (running) {
    note('bad json', (await call('POST', '/allocations', '{not json')).status);
    note('bad field', (await call('POST', '/allocations', { lease_seconds: -5 })).status);
    note('unknown id', (await call('GET', '/allocations/nope')).status);
    await sleep(5000);
  }
}

async function burstLoop() {
  while (running) {
    await sleep(60000);
    if (!running) break;
    await Promise.all(Array.from({ length: 100 }, async () => {
      const a = await call('POST', '/allocations', { lease_seconds: 30, client: 'burst', timeout_ms: 3000 });
      note('burst alloc', a.status);
      if (a.status === 201) note('burst release', (await call('DELETE', `/allocations/${JSON.parse(a.body).id}`)).status);
      else if (a.status !== 429 && a.status !== 503) failedHandOuts += 1;
    }));
  }
}

function sample(pid, dataDir) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number((status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm')) || [])[1] || 0);
  const size = (f) => { try { return fs.statSync(path.join(dataDir, f)).size; } catch { return 0; } };
  return {
    rssMb: field('VmRSS') / 1024,
    fds: fs.readdirSync(`/proc/${pid}/fd`).length,
    threads: field('Threads'),
    dbMb: (size('warmpool.db') + size('warmpool.db-wal')) / 1048576,
  };
}

async function main() {
  const id = `test-soak-${process.pid}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'warmpool-soak-'));
  const log = fs.openSync(path.join(dataDir, '..', `${path.basename(dataDir)}.log`), 'w');
  const proc = spawn(bin, ['serve', '--port', String(port), '--data-dir', dataDir, '--engine', engine,
    '--manager-id', id, '--port-first', '15500', '--port-last', '15599', '--max-instances', '12',
    '--min-idle', '4', '--max-idle', '8', '--keep-running', '2', '--host-limit', '1', '--log-level', 'warn',
    '--keep-finished-hours', keepHours, '--insecure'],
  { stdio: ['ignore', log, log] });
  const stopManager = () => { if (proc.exitCode === null) proc.kill('SIGTERM'); };
  process.on('SIGINT', () => { running = false; stopManager(); process.exit(1); });
  for (let k = 0; k < 200; ++k) {
    if ((await call('GET', '/health', undefined, 1000)).status === 200) break;
    await sleep(100);
  }
  const loops = [...Array.from({ length: clients }, handOutLoop), piJobLoop(), readLoop(), badLoop(), burstLoop()];
  const rows = [];
  console.log('minute  rss_mb  fds  threads  db_mb  containers  requests (this minute, by outcome)');
  for (let m = 1; m <= minutes; ++m) {
    await sleep(60000);
    const s = sample(proc.pid, dataDir);
    const filters = encodeURIComponent(JSON.stringify({ label: [`warmpool.manager=${id}`] }));
    s.containers = (await engineCall(`/containers/json?all=1&filters=${filters}`)).length;
    rows.push(s);
    const outcomes = Object.entries(counts).sort().map(([k, v]) => `${k}:${v}`).join(' ');
    for (const k of Object.keys(counts)) delete counts[k];
    console.log(`${String(m).padStart(6)} ${s.rssMb.toFixed(1).padStart(7)} ${String(s.fds).padStart(4)} ` +
      `${String(s.threads).padStart(8)} ${s.dbMb.toFixed(2).padStart(6)} ${String(s.containers).padStart(11)}  ${outcomes}`);
  }
  running = false;
  await Promise.all(loops);
  stopManager();
  await new Promise((r) => (proc.exitCode === null ? proc.on('exit', r) : r()));
  const after = rows.slice(Math.min(5, rows.length - 1));
  const growth = (key) => {
    const first = after[0][key];
    const most = Math.max(...after.map((r) => r[key]));
    return first > 0 ? (most - first) / first : 0;
  };
  console.log(`growth after minute ${rows.length - after.length + 1} (largest over the first): rss ${(100 * growth('rssMb')).toFixed(1)}%, ` +
    `fds ${(100 * growth('fds')).toFixed(1)}%, threads ${(100 * growth('threads')).toFixed(1)}%, db ${(100 * growth('dbMb')).toFixed(1)}%`);
  console.log(`failed hand-outs other than 429/503: ${failedHandOuts}`);
  const containers = await engineCall(`/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: [`warmpool.manager=${id}`] }))}`);
  for (const c of containers) {
    await new Promise((resolve) => {
      const req = http.request({ socketPath: engine.replace(/^unix:\/\//, ''), method: 'DELETE',
        path: `/v1.41/containers/${c.Id}?force=1&v=1` }, (res) => { res.resume(); res.on('end', resolve); });
      req.on('error', resolve);
      req.end();
    });
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  process.exit(failedHandOuts === 0 ? 0 : 1);
}

main();
