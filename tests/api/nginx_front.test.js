// nginx in front of a manager (deploy/nginx.conf, scripts/nginx-front): what
// a client sees through it, what it keeps from the manager, and that the
// manager serves on directly when nginx goes away. The quick case of
// `scripts/nginx-front test-api`, which runs the whole contract test through
// nginx.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const tls = require('node:tls');
const { Manager } = require('./support/manager');

const TLS_DIR = process.env.WARMPOOL_FRONT_TLS;

// Sends `head`, then `chunk` repeatedly (up to `most` bytes) until the
// proxy closes; returns what came back and how much was sent.
function flood(port, head, chunk, most) {
  return new Promise((resolve) => {
    let answer = '';
    let sent = 0;
    let closed = false;
    const socket = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(`${TLS_DIR}/cert.pem`) }, () => {
      socket.write(head);
      const pump = () => {
        while (!closed && sent < most) {
          sent += chunk.length;
          if (!socket.write(chunk)) return socket.once('drain', pump);
        }
      };
      pump();
    });
    socket.on('data', (d) => { answer += d; });
    const done = () => { closed = true; resolve({ answer, sent }); };
    socket.on('close', done);
    socket.on('error', done);
    socket.setTimeout(20000, () => socket.destroy());
  });
}

async function httpRequests(manager) {
  const text = await (await fetch(`${manager.direct}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith('warmpool_http_requests_total'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

test('through nginx: hand-outs, the request id, docs from disk, bounds, and the manager alone after', { timeout: 120000 }, async (t) => {
  assert.ok(TLS_DIR, 'WARMPOOL_FRONT_TLS is not set (run with scripts/nginx-front test-api, or ctest)');
  const manager = await new Manager({ name: 'nginx-front', front: true }).start();
  t.after(() => manager.stop());
  assert.match(manager.base, /^https:/);
  await manager.idle();

  await t.test('a hand-out and its release, with the client\'s request id kept', async () => {
    const r = await fetch(`${manager.base}/allocations`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'front-test-1' },
      body: JSON.stringify({ lease_seconds: 60, client: 'nginx' }),
    });
    assert.strictEqual(r.status, 201);
    assert.strictEqual(r.headers.get('x-request-id'), 'front-test-1');
    const a = await r.json();
    const d = await fetch(`${manager.base}/allocations/${a.id}`, { method: 'DELETE' });
    assert.strictEqual(d.status, 200);
    // Without one, nginx makes the id and the manager answers with it.
    const h = await fetch(`${manager.base}/health`);
    assert.strictEqual(h.status, 200);
    assert.match(h.headers.get('x-request-id'), /^[0-9a-f]{32}$/);
  });

  await t.test('the docs are served by nginx, not the manager', async () => {
    const before = await httpRequests(manager);
    for (const p of ['/', '/openapi.json']) {
      const r = await fetch(manager.base + p);
      assert.strictEqual(r.status, 200, p);
    }
    const missing = await fetch(`${manager.base}/static/nope.js`);
    assert.strictEqual(missing.status, 404);
    assert.strictEqual(missing.headers.get('content-type'), 'application/problem+json');
    const after = await httpRequests(manager);
    assert.strictEqual(after - before, 1);  // the first /metrics only
  });

  await t.test('a 10 MB header is cut off by nginx with a problem, and never reaches the manager', async () => {
    const before = await httpRequests(manager);
    const { answer } = await flood(manager.frontPort, 'GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ',
      'a'.repeat(65536), 10 * 1024 * 1024);
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /application\/problem\+json/);
    assert.strictEqual(await httpRequests(manager) - before, 1);  // the first /metrics only
  });

  await t.test('a never-ending chunked body is cut off at the body limit', async () => {
    const { answer } = await flood(manager.frontPort,
      'POST /allocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
      `4000\r\n${' '.repeat(0x4000)}\r\n`, 10 * 1024 * 1024);
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /application\/problem\+json/);
  });

  await t.test('when nginx goes away the manager serves on directly', async () => {
    manager.stopFront();
    await assert.rejects(fetch(`${manager.base}/health`));
    const r = await fetch(`${manager.direct}/health`);
    assert.strictEqual(r.status, 200);
  });
});
