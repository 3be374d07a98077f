// pi-worker answers as swagger/worker.yaml says: every operation called with
// good and bad input, with the control secret, the session's token and none;
// each answer's status, headers, content type and body checked against the
// document. The last test fails, listing them, if an operation got no 2xx.
'use strict';
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { Contract, documentErrors, loadSpec } = require('./support/spec');

const SECRET = 'control-secret-worker-contract';
const TOKEN = 'session-token-worker-contract';

describe('pi-worker answers as swagger/worker.yaml says', () => {
  const spec = loadSpec('worker.json');
  const contract = new Contract(spec);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'worker-contract-'));
  let port;
  let base;
  let worker;

  // A free port of this test's range (32900-32989), tried from a place that differs per run.
  async function freePort() {
    for (let i = 0; i < 90; i += 1) {
      const candidate = 32900 + ((process.pid + i) % 90);
      const free = await new Promise((resolve) => {
        const probe = net.createServer().once('error', () => resolve(false));
        probe.listen(candidate, '127.0.0.1', () => probe.close(() => resolve(true)));
      });
      if (free) return candidate;
    }
    throw new Error('no free port in 32900-32989');
  }

  async function expect(status, method, template, { params = {}, body, bearer } = {}) {
    const url = template.replace(/\{(\w+)\}/g, (_, k) => params[k]);
    const headers = bearer ? { Authorization: `Bearer ${bearer}` } : {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(base + url, { method, headers, body });
    const text = await res.text();
    assert.deepEqual(contract.check(method, template, { status: res.status, headers: res.headers, body: text }), [],
      `${method} ${url}`);
    assert.equal(res.status, status, `${method} ${url}: ${text.slice(0, 300)}`);
    return text;
  }

  before(async () => {
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    worker = spawn(process.env.PI_WORKER_BIN, ['serve', '--port', String(port), '--scratch', scratch, '--max-digits', '5000000', '--max-init-body-bytes', '4096'],
      { env: { ...process.env, WARMPOOL_CONTROL_SECRET: SECRET }, stdio: ['ignore', 'ignore', 'inherit'] });
    for (let i = 0; i < 600; i += 1) {
      try {
        if ((await fetch(`${base}/ping`)).ok) return;
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`pi-worker did not answer on ${base}`);
  });
  after(() => {
    worker.kill('SIGTERM');
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  test('the document is valid OpenAPI 3.1', async () => {
    assert.deepEqual(await documentErrors(spec), []);
  });

  test('control routes: the control secret only', async () => {
    await expect(200, 'GET', '/ping');
    await expect(401, 'POST', '/reset');
    await expect(401, 'POST', '/reset', { bearer: TOKEN });
    await expect(200, 'POST', '/reset', { bearer: SECRET });
    await expect(401, 'POST', '/init', { body: '{"token":null}' });
    await expect(400, 'POST', '/init', { body: '{not json', bearer: SECRET });
    await expect(400, 'POST', '/init', { body: '{"token":"t","files":{"../x":"y"}}', bearer: SECRET });
    await expect(413, 'POST', '/init', { body: JSON.stringify({ token: 't', files: { a: 'x'.repeat(5000) } }), bearer: SECRET });
  });

  test('a session: init, read back, compute, result; reset revokes its token', async () => {
    await expect(401, 'GET', '/init');
    const init = { token: TOKEN, files: { 'dir/a.txt': 'hello', 'b.bin': { base64: 'AAEC/w==' } }, env: { K: 'v' }, metadata: { m: 1 } };
    await expect(200, 'POST', '/init', { body: JSON.stringify(init), bearer: SECRET });
    await expect(409, 'POST', '/init', { body: JSON.stringify(init), bearer: SECRET });
    await expect(401, 'GET', '/init');
    const state = JSON.parse(await expect(200, 'GET', '/init', { bearer: TOKEN }));
    assert.deepEqual(state.env, { K: 'v' });
    assert.equal(await expect(200, 'GET', '/files/{path}', { params: { path: 'dir/a.txt' }, bearer: TOKEN }), 'hello');
    await expect(404, 'GET', '/files/{path}', { params: { path: 'none' }, bearer: TOKEN });
    await expect(401, 'GET', '/files/{path}', { params: { path: 'dir/a.txt' } });
    await expect(409, 'GET', '/result', { bearer: TOKEN });
    await expect(409, 'DELETE', '/compute', { bearer: TOKEN });
    await expect(400, 'POST', '/compute', { body: '{"digits":0}', bearer: TOKEN });
    await expect(401, 'POST', '/compute', { body: '{"digits":100}' });
    await expect(202, 'POST', '/compute', { body: '{"digits":100}', bearer: TOKEN });
    for (let i = 0; i < 200; i += 1) {
      const s = JSON.parse(await expect(200, 'GET', '/compute', { bearer: TOKEN }));
      if (s.state === 'done') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.match(await expect(200, 'GET', '/result', { bearer: TOKEN }), /^3\.14159/);
    await expect(202, 'POST', '/compute', { body: '{"digits":5000000}', bearer: SECRET });  // long enough to cancel
    await expect(200, 'DELETE', '/compute', { bearer: TOKEN });
    await expect(200, 'POST', '/reset', { bearer: SECRET });
    await expect(401, 'GET', '/init', { bearer: TOKEN });
    const empty = JSON.parse(await expect(200, 'GET', '/init', { bearer: SECRET }));
    assert.deepEqual(empty, { env: {}, metadata: null, files: [] });
  });

  test('every operation of worker.yaml got a 2xx answer', () => {
    assert.deepEqual(contract.unexercised(), []);
  });
});
