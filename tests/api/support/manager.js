// Runs `warmpool serve` for a test on the real engine: a temp --data-dir, a
// manager id test-<random> (scripts/test sweeps that label prefix too), a
// free API port, a block of 20 worker ports in 24000-24999. stop() ends the
// manager and removes the containers it made.
//
// Environment (set by tests/api/CMakeLists.txt): WARMPOOL_BIN, WARMPOOL_DOCS_DIR,
// WARMPOOL_SOURCE_DIR. With WARMPOOL_FRONT (scripts/nginx-front) and
// WARMPOOL_FRONT_TLS (its certificate's directory; node trusts it through
// NODE_EXTRA_CA_CERTS), or `front: true`, each manager gets its own nginx in
// front, on a port in 33500-33899: `base` is then nginx's https address and
// `direct` the manager's own. The engine is found as the C++ integration tests find
// it (tests/support/engine_env.hpp): WARMPOOL_ENGINE, DOCKER_HOST, the
// engine.env that scripts/engine writes, unix:///var/run/docker.sock.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run this test with ctest)`);
  return v;
}

function engineEndpoint() {
  if (process.env.WARMPOOL_ENGINE) return process.env.WARMPOOL_ENGINE;
  if (process.env.DOCKER_HOST) return process.env.DOCKER_HOST;
  const run = process.env.WARMPOOL_RUN || path.join(process.env.WARMPOOL_SOURCE_DIR || '.', '.run');
  try {
    const line = fs.readFileSync(path.join(run, 'engine.env'), 'utf8')
      .split('\n').find((l) => l.startsWith('DOCKER_HOST='));
    if (line) return line.slice('DOCKER_HOST='.length);
  } catch { /* no recorded engine */ }
  return 'unix:///var/run/docker.sock';
}

// One call to the Docker Engine API (unix:// or tcp:// endpoints).
function engineCall(endpoint, method, urlPath) {
  const target = endpoint.startsWith('unix://')
    ? { socketPath: endpoint.slice('unix://'.length) }
    : (() => { const u = new URL(endpoint.replace(/^tcp:/, 'http:')); return { host: u.hostname, port: u.port }; })();
  return new Promise((resolve, reject) => {
    const req = http.request({ ...target, method, path: `/v1.41${urlPath}`, timeout: 10000 }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`engine ${method} ${urlPath}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn() until it returns a truthy value or `ms` pass; returns that value or throws.
async function eventually(what, fn, ms = 30000, every = 100) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(every);
  }
}

class Manager {
  // options: extra `serve` flags as [flag, value] pairs or plain flags.
  // name: the manager's log is kept as $WARMPOOL_ARTIFACTS/manager-<name>.log.
  constructor({ name = 'test', apiToken = '', adminToken = '', flags = [], front = !!process.env.WARMPOOL_FRONT } = {}) {
    this.front = front;
    this.name = name;
    this.bin = required('WARMPOOL_BIN');
    this.docsDir = required('WARMPOOL_DOCS_DIR');
    this.engine = engineEndpoint();
    this.apiToken = apiToken;
    this.adminToken = adminToken;
    this.flags = flags;
    this.managerId = `test-${crypto.randomInt(1_000_000)}`;
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `warmpool-${this.managerId}-`));
    this.log = '';
  }

  async start() {
    const engine = await engineCall(this.engine, 'GET', '/version').catch((e) => {
      throw new Error(`no Docker engine answers at ${this.engine} (${e.message}); start one with scripts/engine start`);
    });
    if (engine.status !== 200) throw new Error(`engine ${this.engine} answered ${engine.status} to /version`);
    const image = await engineCall(this.engine, 'GET', '/images/warmpool%2Fpi-worker:latest/json');
    if (image.status !== 200) throw new Error('image warmpool/pi-worker:latest is missing; build it with scripts/build-image');

    this.port = await freePort();
    const first = 24000 + 20 * crypto.randomInt(50);
    const args = ['serve', '--host', '127.0.0.1', '--port', String(this.port),
      '--data-dir', this.dataDir, '--docs-dir', this.docsDir, '--manager-id', this.managerId,
      '--engine', this.engine, '--port-first', String(first), '--port-last', String(first + 19),
      '--min-idle', '1', '--host-limit', '1', '--scheduler-period-ms', '500',
      // A fixed pool: the compatibility test makes room by deleting idle
      // instances, which the demand policy refills at once.
      '--pool-policy', 'fixed', ...this.flags];
    if (this.apiToken) args.push('--api-token', this.apiToken);
    if (this.adminToken) args.push('--admin-token', this.adminToken);
    if (!this.apiToken || !this.adminToken) args.push('--insecure');  // a route without a token stays open
    this.proc = spawn(this.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    // If the test runner is stopped (ctest's timeout, Ctrl-C), stop the manager too.
    const proc = this.proc;
    process.once('exit', () => proc.kill('SIGTERM'));
    for (const signal of ['SIGINT', 'SIGTERM']) {
      process.once(signal, () => { this.stop().finally(() => process.exit(1)); });
    }
    const keep = (c) => { this.log = (this.log + c).slice(-200000); };
    this.proc.stdout.on('data', keep);
    this.proc.stderr.on('data', keep);
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    this.base = `http://127.0.0.1:${this.port}`;
    await eventually('the manager to answer /health', async () => {
      if (this.proc.exitCode !== null) throw new Error(`warmpool exited (${this.proc.exitCode}):\n${this.log}`);
      const r = await fetch(`${this.base}/health`);
      return r.status === 200;
    }, 20000);
    this.direct = this.base;
    if (this.front) await this.startFront();
    return this;
  }

  // nginx in front of this manager (scripts/nginx-front); base becomes its address.
  async startFront() {
    const script = process.env.WARMPOOL_FRONT
      || path.join(required('WARMPOOL_SOURCE_DIR'), 'scripts', 'nginx-front');
    // Not under the data directory (mode 0700): nginx's workers (nobody) write here.
    this.frontDir = fs.mkdtempSync(path.join(os.tmpdir(), `warmpool-nginx-${this.managerId}-`));
    fs.chmodSync(this.frontDir, 0o755);
    for (let tries = 0; ; ++tries) {
      this.frontPort = 33500 + crypto.randomInt(400);
      const args = ['start', '--upstream', String(this.port), '--port', String(this.frontPort),
        '--dir', this.frontDir, '--docs', this.docsDir];
      if (process.env.WARMPOOL_FRONT_TLS) args.push('--tls', process.env.WARMPOOL_FRONT_TLS);
      try {
        execFileSync(script, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        break;
      } catch (e) {
        if (tries >= 3) throw new Error(`nginx did not start in front of ${this.port}: ${e.stderr}`);
      }
    }
    this.base = `https://127.0.0.1:${this.frontPort}`;
  }

  stopFront() {
    if (!this.frontDir) return;
    const script = process.env.WARMPOOL_FRONT
      || path.join(required('WARMPOOL_SOURCE_DIR'), 'scripts', 'nginx-front');
    execFileSync(script, ['stop', '--dir', this.frontDir], { stdio: 'ignore' });
    fs.rmSync(this.frontDir, { recursive: true, force: true });
    this.frontDir = undefined;
  }

  // Waits until an instance is idle (ready or paused).
  async idle(count = 1) {
    return eventually(`${count} idle instance(s)`, async () => {
      const r = await fetch(`${this.base}/instances`, { headers: this.auth(this.adminToken) });
      const list = await r.json();
      return list.filter((i) => i.state === 'ready' || i.state === 'paused').length >= count;
    }, 30000);
  }

  // A call to the engine this manager uses, e.g. to break a container behind its back.
  engineCall(method, urlPath) {
    return engineCall(this.engine, method, urlPath);
  }

  auth(token) {
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  async stop() {
    this.stopFront();
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
      await this.exited;
      clearTimeout(timer);
    }
    const filters = encodeURIComponent(JSON.stringify({ label: [`warmpool.manager=${this.managerId}`] }));
    try {
      const list = await engineCall(this.engine, 'GET', `/containers/json?all=1&filters=${filters}`);
      for (const c of JSON.parse(list.body)) {
        await engineCall(this.engine, 'DELETE', `/containers/${c.Id}?force=1&v=1`);
      }
    } catch (e) {
      console.error(`removing the containers of ${this.managerId}: ${e.message}`);
    }
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    if (process.env.WARMPOOL_ARTIFACTS) {
      fs.mkdirSync(process.env.WARMPOOL_ARTIFACTS, { recursive: true });
      fs.writeFileSync(path.join(process.env.WARMPOOL_ARTIFACTS, `manager-${this.name}.log`), this.log);
    }
  }
}

module.exports = { Manager, eventually, sleep };
