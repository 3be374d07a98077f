// Responses of a real manager (`warmpool serve` on the real engine) validate
// against swagger/openapi.yaml: every operation is called, with good and bad
// input and with and without its token, and each answer's status, headers,
// content type and body must be the ones the spec documents. The last test
// fails, listing them, if any operation of the spec got no 2xx answer.
'use strict';
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { Manager, eventually, sleep } = require('./support/manager');
const { Contract, documentErrors, loadSpec, operations } = require('./support/spec');

const API = 'api-token-contract';
const ADMIN = 'admin-token-contract';

describe('the manager answers as swagger/openapi.yaml says', () => {
  const spec = loadSpec();
  const contract = new Contract(spec);
  const manager = new Manager({
    name: 'contract',
    apiToken: API,
    adminToken: ADMIN,
    // Paused through the engine: engines may then be added (POST /engines).
    flags: ['--max-instances', '2', '--max-idle', '2', '--max-body-bytes', '1024', '--max-init-bytes', '2048',
      '--pause-via', 'engine'],
  });

  // Calls `method template` and checks the answer against the spec.
  // `path`, when given, is sent instead of the template filled in (a token in the path).
  async function call(method, template, { params = {}, query = '', body, token, type = 'application/json', path } = {}) {
    let url = path ?? template.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(String(params[k])));
    if (query) url += `?${query}`;
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    if (body !== undefined) headers['Content-Type'] = type;
    const res = await fetch(manager.base + url, { method, headers, body });
    const text = await res.text();
    const errors = contract.check(method, template, { status: res.status, headers: res.headers, body: text });
    assert.deepEqual(errors, [], `${method} ${url}`);
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text, json };
  }

  async function expect(status, method, template, options) {
    const r = await call(method, template, options);
    assert.equal(r.status, status, `${method} ${template}: ${r.text.slice(0, 300)}`);
    return r;
  }

  before(async () => {
    await manager.start();
    await manager.idle(1);
  });
  after(async () => {
    await manager.stop();
  });

  test('the document is valid OpenAPI 3.1', async () => {
    assert.deepEqual(await documentErrors(spec), []);
    assert.equal(spec.openapi, '3.1.0');
  });

  test('docs: /, /openapi.json, /static/{file}, /dashboard are open; the feed needs the admin token', async () => {
    const page = await expect(200, 'GET', '/');
    assert.match(page.text, /\/static\/swagger-ui-bundle\.js/);
    assert.doesNotMatch(page.text, /https?:\/\//, 'the docs page loads nothing from another host');
    const served = await expect(200, 'GET', '/openapi.json');
    assert.deepEqual(served.json, spec);
    await expect(200, 'GET', '/static/{file}', { params: { file: 'swagger-ui-bundle.js' } });
    await expect(200, 'GET', '/static/{file}', { params: { file: 'swagger-ui.css' } });
    await expect(200, 'GET', '/static/{file}', { params: { file: 'favicon-32x32.png' } });
    await expect(404, 'GET', '/static/{file}', { params: { file: 'nope.js' } });
    await expect(404, 'GET', '/static/{file}', { params: { file: '.hidden.js' } });
    await expect(404, 'GET', '/static/{file}', { params: { file: 'run.sh' } });
    const dashboard = await expect(200, 'GET', '/dashboard');
    assert.match(dashboard.text, /\/static\/dashboard\.js/);
    await expect(401, 'GET', '/dashboard/feed');
    await expect(401, 'GET', '/dashboard/feed', { token: API });
    const feed = await expect(200, 'GET', '/dashboard/feed', { token: ADMIN });
    assert.ok(feed.json.instances.length >= 1);
    await expect(401, 'GET', '/dashboard/history', { token: API });
    const history = await expect(200, 'GET', '/dashboard/history', { token: ADMIN });
    assert.equal(history.json.spanSeconds, 900);
  });

  test('health and details', async () => {
    const h = await expect(200, 'GET', '/health');
    assert.equal(h.json.status, 'ok');
    await expect(401, 'GET', '/details');
    await expect(401, 'GET', '/details', { token: API });
    const d = await expect(200, 'GET', '/details', { token: ADMIN });
    assert.ok(d.json.host.cpus >= 1);
    // The limits the pool works within, as the harness configured them.
    assert.equal(d.json.pool.policy, 'fixed');
    assert.equal(d.json.pool.ports.last - d.json.pool.ports.first, 19);
    assert.equal(d.json.pool.thresholds.hostCpu, 1);
    assert.equal(d.json.pool.thresholds.hostMemory, 1);
    // The engines as GET /engines lists them: the one engine, `default`.
    assert.deepEqual(d.json.engines.map((e) => [e.name, e.state]), [['default', 'up']]);
    // After the first upkeep, its target: a fixed pool's is --min-idle.
    const target = await eventually('the first upkeep\'s target',
      async () => (await expect(200, 'GET', '/details', { token: ADMIN })).json.pool.target);
    assert.equal(target.idle, 1);
  });

  test('allocations: bad input is refused with problem+json', async () => {
    await expect(401, 'POST', '/allocations', { body: '{}' });
    await expect(401, 'POST', '/allocations', { body: '{}', token: ADMIN });
    await expect(400, 'POST', '/allocations', { body: '{not json', token: API });
    await expect(400, 'POST', '/allocations', { body: '[1]', token: API });
    await expect(400, 'POST', '/allocations', { body: '{"lease_seconds":0}', token: API });
    await expect(400, 'POST', '/allocations', { body: '{"lease_seconds":"5"}', token: API });
    await expect(400, 'POST', '/allocations', { body: '{"client":5}', token: API });
    await expect(400, 'POST', '/allocations', { body: '{"leese":5}', token: API });
    await expect(400, 'POST', '/allocations', { body: '{"timeout_ms":600001}', token: API });
    await expect(413, 'POST', '/allocations', { body: ' '.repeat(200000), token: API });
    await expect(413, 'POST', '/allocations/{id}/renew', { params: { id: 'nope' }, body: ' '.repeat(2048), token: API });
    await expect(413, 'POST', '/allocations', { body: JSON.stringify({ init: { files: { a: 'x'.repeat(2049) } } }), token: API });
    await expect(400, 'POST', '/allocations', { body: '{"init":{"files":{"../a":"x"}}}', token: API });
    await expect(400, 'POST', '/allocations', { body: '{"init":{"files":{"a":{"base64":"@@"}}}}', token: API });
    await expect(400, 'POST', '/allocations', { body: '{"init":{"env":{"1A":"x"}}}', token: API });
    await expect(400, 'POST', '/allocations', { body: '{"init":{"metadata":[1]}}', token: API });
    await expect(400, 'POST', '/allocations', { body: '{"init":{"files":{"a":"1","a":"2"}}}', token: API });
    await expect(400, 'GET', '/allocations', { query: 'show=sometimes', token: API });
    await expect(401, 'GET', '/allocations');
    await expect(404, 'GET', '/allocations/{id}', { params: { id: '0123456789abcdef0123456789abcdef' }, token: API });
    await expect(404, 'DELETE', '/allocations/{id}', { params: { id: 'nope' }, token: API });
    await expect(404, 'POST', '/allocations/{id}/renew', { params: { id: 'nope' }, body: '{}', token: API });
    const list = await expect(200, 'GET', '/allocations', { query: 'show=all', token: API });
    assert.deepEqual(list.json, [], 'bad input changed nothing');
  });

  test('allocations: allocate, read, renew, list, release (twice), renew after the end', async () => {
    const a = await expect(201, 'POST', '/allocations', { body: '{"lease_seconds":60,"client":"contract"}', token: API });
    assert.equal(a.headers.get('location'), `/allocations/${a.json.id}`);
    const id = { id: a.json.id };
    await expect(200, 'GET', '/allocations/{id}', { params: id, token: API });
    const renewed = await expect(200, 'POST', '/allocations/{id}/renew', { params: id, body: '{"lease_seconds":120}', token: API });
    assert.ok(renewed.json.expiresAt > a.json.expiresAt);
    await expect(200, 'POST', '/allocations/{id}/renew', { params: id, token: API });
    await expect(400, 'POST', '/allocations/{id}/renew', { params: id, body: '{"lease_seconds":-1}', token: API });
    for (const show of ['current', 'finished', 'all']) {
      await expect(200, 'GET', '/allocations', { query: `show=${show}`, token: API });
    }
    const feed = await expect(200, 'GET', '/dashboard/feed', { token: ADMIN });
    assert.ok(feed.json.allocations.some((x) => x.id === a.json.id));
    const instance = await expect(200, 'GET', '/instances/{id}', { params: { id: a.json.instance }, token: ADMIN });
    assert.equal(instance.json.allocation, a.json.id);
    const released = await expect(200, 'DELETE', '/allocations/{id}', { params: id, token: API });
    assert.notEqual(released.json.deletedAt, null);
    await expect(200, 'DELETE', '/allocations/{id}', { params: id, token: API });
    await expect(409, 'POST', '/allocations/{id}/renew', { params: id, body: '{}', token: API });
    await expect(200, 'GET', '/allocations', { token: API });
  });

  test('allocations: with init, the answer carries the token once; reads show size, SHA-256 and metadata', async () => {
    const init = { files: { 'a.txt': 'hello', 'b.bin': { base64: 'AAEC/w==' } }, env: { K: 'v' }, metadata: { course: 'net101' } };
    const a = await expect(201, 'POST', '/allocations', { body: JSON.stringify({ init }), token: API });
    assert.match(a.json.token, /^[0-9a-f]{64}$/);
    assert.equal(a.json.initBytes, 9);
    const read = await expect(200, 'GET', '/allocations/{id}', { params: { id: a.json.id }, token: API });
    assert.equal(read.json.token, undefined);
    assert.deepEqual(read.json.metadata, init.metadata);
    assert.equal(read.json.initSha256, a.json.initSha256);
    await expect(200, 'DELETE', '/allocations/{id}', { params: { id: a.json.id }, token: API });
  });

  test('instances: list, add, inspect, restart, delete; capacity and unknown ids', async () => {
    await expect(401, 'GET', '/instances');
    await expect(401, 'GET', '/instances', { token: API });
    await expect(400, 'GET', '/instances', { query: 'show=never', token: ADMIN });
    for (const show of ['current', 'finished', 'all']) {
      await expect(200, 'GET', '/instances', { query: `show=${show}`, token: ADMIN });
    }
    await expect(400, 'POST', '/instances', { body: '{"count":2}', token: ADMIN });
    // Make room and add one. Upkeep (--min-idle 1) may fill the room again
    // between a delete and the add, and a health check may hold an instance
    // for a moment (409 busy): so add, and on a 409, free an idle one and
    // try again.
    const added = await eventually('an instance added', async () => {
      const r = await call('POST', '/instances', { body: '{}', token: ADMIN });
      if (r.status === 201) return r;
      assert.equal(r.status, 409, r.text.slice(0, 300));
      const live = (await call('GET', '/instances', { token: ADMIN })).json;
      const idle = live.find((i) => i.state === 'ready' || i.state === 'paused');
      if (idle) await call('DELETE', '/instances/{id}', { params: { id: idle.id }, token: ADMIN });
      return false;
    });
    assert.equal(added.headers.get('location'), `/instances/${added.json.id}`);
    // Fill the pool to its maximum of 2 (a deleting instance may still count
    // for a moment); then capacity refuses one more, saying why.
    const full = await eventually('the instance limit to refuse', async () => {
      const r = await call('POST', '/instances', { token: ADMIN });
      assert.ok(r.status === 201 || r.status === 409, r.text.slice(0, 300));
      return r.status === 409 ? r : false;
    });
    assert.match(full.json.detail, /instance limit reached/);
    const id = { id: added.json.id };
    await eventually('the new instance to be idle', async () => {
      const r = await call('GET', '/instances/{id}', { params: id, token: ADMIN });
      return r.json.state === 'ready' || r.json.state === 'paused';
    });
    // The scheduler's checks claim instances briefly: a 409 with Retry-After
    // says so, and a client tries again, as this one does.
    await eventually('the restart to be accepted', async () => {
      const r = await call('POST', '/instances/{id}/restart', { params: id, token: ADMIN });
      if (r.status === 409) {
        assert.ok(r.headers.get('retry-after'), '409 comes with Retry-After');
        return false;
      }
      assert.equal(r.status, 202, r.text.slice(0, 300));
      return true;
    });
    await eventually('the restarted instance to be idle', async () => {
      const r = await call('GET', '/instances/{id}', { params: id, token: ADMIN });
      return r.json.restarts === 1 && (r.json.state === 'ready' || r.json.state === 'paused');
    });
    // The restart shows in the instance's events, newest first, with its cause.
    const events = await expect(200, 'GET', '/events', { query: `instance=${added.json.id}`, token: ADMIN });
    assert.ok(events.json.some((e) => e.to === 'error' && e.detail === 'restart requested'), JSON.stringify(events.json));
    assert.equal(events.json.at(-1).from, null, 'the oldest event is the creation');
    await expect(200, 'GET', '/events', { query: 'limit=1', token: ADMIN });
    await expect(400, 'GET', '/events', { query: 'limit=0', token: ADMIN });
    await expect(401, 'GET', '/events');
    const feed = await expect(200, 'GET', '/dashboard/feed', { token: ADMIN });
    assert.ok(feed.json.faults.some((f) => f.instance === added.json.id && f.kind === 'recovered'),
      'the restart shows among faults and recoveries');
    await eventually('the delete to be accepted', async () => {
      const r = await call('DELETE', '/instances/{id}', { params: id, token: ADMIN });
      assert.ok(r.status === 202 || r.status === 409, r.text.slice(0, 300));
      return r.status === 202;
    });
    await eventually('the instance to be deleted', async () => {
      const r = await call('GET', '/instances/{id}', { params: id, token: ADMIN });
      return r.json.state === 'deleted';
    });
    await expect(404, 'GET', '/instances/{id}', { params: { id: 999999 }, token: ADMIN });
    await expect(404, 'DELETE', '/instances/{id}', { params: { id: 424242 }, token: ADMIN });
    await expect(404, 'POST', '/instances/{id}/restart', { params: { id: 424242 }, token: ADMIN });
    await expect(401, 'DELETE', '/instances/{id}', { params: id, token: API });
  });

  test('allocations: no instance before the deadline is 503 with Retry-After', async () => {
    await manager.idle(1);
    const held = [];
    try {
      // Take every instance the pool may have (2), then ask once more.
      for (let i = 0; i < 2; i++) {
        held.push((await expect(201, 'POST', '/allocations', { body: '{"timeout_ms":20000}', token: API })).json.id);
      }
      const started = Date.now();
      const refused = await expect(503, 'POST', '/allocations', { body: '{"timeout_ms":300}', token: API });
      assert.ok(refused.headers.get('retry-after'));
      assert.ok(Date.now() - started < 3000);
    } finally {
      for (const id of held) await expect(200, 'DELETE', '/allocations/{id}', { params: { id }, token: API });
    }
  });

  test('ptanywhere compatibility: the earlier calls, the token in the path, the earlier shapes', async () => {
    await manager.idle(1);
    const P = '/compat/ptanywhere';
    await expect(401, 'POST', `${P}/allocations`);
    const made = await expect(201, 'POST', `${P}/allocations`, { path: `${P}/${API}/allocations` });
    assert.ok(Number.isInteger(made.json.id));
    assert.match(made.json.packetTracer, /^[^:]+:\d+$/);
    const id = { id: made.json.id };
    await expect(200, 'GET', `${P}/allocations/{id}`, { params: id, token: API });
    const mains = await expect(200, 'GET', '/allocations', { token: API });
    assert.ok(mains.json.some((a) => a.endpoint === made.json.packetTracer), 'the main API lists it');
    for (const show of ['current', 'finished', 'all']) {
      await expect(200, 'GET', `${P}/allocations`, { query: `show=${show}`, token: API });
    }
    await expect(404, 'GET', `${P}/allocations/{id}`, { params: { id: 'abc' }, token: API });
    const instances = await expect(200, 'GET', `${P}/instances`, { path: `${P}/${ADMIN}/instances` });
    await expect(401, 'GET', `${P}/instances`, { token: API });
    const one = instances.json.instances[0];
    await expect(200, 'GET', `${P}/instances/{id}`, { params: { id: one.id }, token: ADMIN });
    await expect(200, 'GET', `${P}/details`, { token: ADMIN });
    await expect(200, 'GET', `${P}/ports`, { query: 'show=unavailable', token: ADMIN });
    const released = await expect(200, 'DELETE', `${P}/allocations/{id}`, { path: `${P}/${API}/allocations/${made.json.id}` });
    assert.notEqual(released.json.deletedAt, null);
    // Room for one more (at most 2 here; upkeep keeps one idle), made by
    // deleting idle ones through the view; a 409 is an instance a check holds.
    let added;
    await eventually('room for an instance', async () => {
      const r = await call('POST', `${P}/instances`, { token: ADMIN });
      if (r.status === 201) return (added = r);
      const live = (await call('GET', `${P}/instances`, { token: ADMIN })).json.instances
        .filter((i) => i.state === 'running' || i.state === 'deallocated');
      for (const i of live) await call('DELETE', `${P}/instances/{id}`, { params: { id: i.id }, token: ADMIN });
      return false;
    }, 30000, 200);
    await eventually('the view to delete the new instance', async () =>
      (await call('DELETE', `${P}/instances/{id}`, { params: { id: added.json.id }, token: ADMIN })).status === 200, 30000, 200);
  });

  test('ptanywhere compatibility: start files fetched from a loopback origin into the cache', async () => {
    const P = '/compat/ptanywhere';
    const origin = http.createServer((req, res) => res.end('topology'));
    await new Promise((resolve) => origin.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${origin.address().port}/start.pkt`;
      const file = await expect(200, 'POST', `${P}/files`, { body: url, type: 'text/plain', path: `${P}/${API}/files` });
      assert.equal(file.json.url, url);
      await expect(400, 'POST', `${P}/files`, { body: 'file:///etc/passwd', type: 'text/plain', token: API });
      const list = await expect(200, 'GET', `${P}/files`, { token: API });
      assert.deepEqual(list.json.files, [file.json]);
    } finally {
      origin.close();
    }
  });

  test('pi jobs: queue, poll, download, cancel; bad input and unknown ids', async () => {
    await manager.idle(1);
    await expect(401, 'POST', '/pi_job', { body: '{"digits":50}' });
    for (const bad of ['{"digits":"50"}', '{"digits":0}', '{"digits":-3}', '{}', '{not json']) {
      const r = await expect(400, 'POST', '/pi_job', { body: bad, token: API });
      assert.equal(r.json.success, false);
    }
    await expect(404, 'GET', '/pi_job/{id}', { params: { id: 987654 }, token: API });
    await expect(404, 'DELETE', '/pi_job/{id}', { params: { id: 987654 }, token: API });
    await expect(404, 'GET', '/download_pi_job/{id}', { params: { id: 987654 }, token: API });

    const created = await expect(200, 'POST', '/pi_job', { body: '{"digits":50}', token: API });
    const id = { id: created.json.job_id };
    const done = await eventually('the pi job to complete', async () => {
      const r = await call('GET', '/pi_job/{id}', { params: id, token: API });
      assert.equal(r.status, 200);
      assert.ok(['queued', 'In-progress', 'complete'].includes(r.json.status), r.text);
      return r.json.status === 'complete' && r;
    }, 30000, 200);
    assert.equal(done.json.job_id, String(created.json.job_id));
    assert.equal(done.json.digits, 50);
    const file = await expect(200, 'GET', '/download_pi_job/{id}', { params: id, token: API });
    assert.equal(file.text.trim(), '3.14159265358979323846264338327950288419716939937510');

    const feed = await expect(200, 'GET', '/dashboard/feed', { token: ADMIN });
    assert.ok(Array.isArray(feed.json.piJobs) && feed.json.piJobs.some((j) => j.job_id === String(created.json.job_id)),
      'the dashboard feed lists pi jobs');

    const long = await expect(200, 'POST', '/pi_job', { body: '{"digits":5000000}', token: API });
    const cancelled = await expect(200, 'DELETE', '/pi_job/{id}', { params: { id: long.json.job_id }, token: API });
    assert.ok(['cancelled', 'complete'].includes(cancelled.json.status), cancelled.text);
    if (cancelled.json.status === 'cancelled') {
      await expect(409, 'GET', '/download_pi_job/{id}', { params: { id: long.json.job_id }, token: API });
    }
  });

  test('pools: list, add, inspect, drain; bad records, unknown and draining pools', async () => {
    const pool = (over = {}) => JSON.stringify({
      name: 'contract', image: 'warmpool/pi-worker:latest', portFirst: 19900, portLast: 19919, minIdle: 0, maxIdle: 1, ...over,
    });
    await expect(401, 'GET', '/pools');
    const list = await expect(200, 'GET', '/pools', { token: ADMIN });
    assert.ok(list.json.some((p) => p.name === 'default'), list.text);
    await expect(400, 'POST', '/pools', { body: pool({ name: 'Bad_Name' }), token: ADMIN });
    await expect(400, 'POST', '/pools', { body: '{"name":"only-a-name"}', token: ADMIN });
    await expect(400, 'POST', '/pools', { body: pool({ colour: 'blue' }), token: ADMIN });
    const missing = await expect(400, 'POST', '/pools', { body: pool({ image: 'warmpool/no-such-image:latest' }), token: ADMIN });
    assert.equal(missing.json.field, 'image');
    const added = await expect(201, 'POST', '/pools', { body: pool(), token: ADMIN });
    assert.equal(added.headers.get('location'), '/pools/contract');
    await expect(409, 'POST', '/pools', { body: pool(), token: ADMIN });
    const overlap = await expect(409, 'POST', '/pools', { body: pool({ name: 'other', portFirst: 19910, portLast: 19939 }), token: ADMIN });
    assert.equal(overlap.json.field, 'portFirst');
    await expect(200, 'GET', '/pools/{name}', { params: { name: 'contract' }, token: ADMIN });
    await expect(404, 'GET', '/pools/{name}', { params: { name: 'nope' }, token: ADMIN });
    const patched = await expect(200, 'PATCH', '/pools/{name}', { params: { name: 'contract' }, body: '{"minIdle":0}', token: ADMIN });
    assert.equal(patched.json.minIdle, 0);
    await expect(400, 'PATCH', '/pools/{name}', { params: { name: 'contract' }, body: '{"minIdle":-1}', token: ADMIN });
    await expect(404, 'PATCH', '/pools/{name}', { params: { name: 'nope' }, body: '{"minIdle":0}', token: ADMIN });
    const unknown = await expect(404, 'POST', '/allocations', { body: '{"pool":"nope"}', token: API });
    assert.equal(unknown.json.pool, 'nope');
    await expect(409, 'DELETE', '/pools/{name}', { params: { name: 'default' }, token: ADMIN });
    await expect(404, 'DELETE', '/pools/{name}', { params: { name: 'nope' }, token: ADMIN });
    const draining = await expect(202, 'DELETE', '/pools/{name}', { params: { name: 'contract' }, token: ADMIN });
    assert.equal(draining.json.state, 'draining');
    // It has no instance: it goes at once, or is refused while it drains.
    const refused = await call('POST', '/allocations', { body: '{"pool":"contract"}', token: API });
    assert.ok([404, 409].includes(refused.status), refused.text);
    await eventually('the drained pool to go',
      async () => (await call('GET', '/pools/{name}', { params: { name: 'contract' }, token: ADMIN })).status === 404, 30000, 200);
  });

  test('metrics: Prometheus text for the admin', async () => {
    await expect(401, 'GET', '/metrics');
    const m = await expect(200, 'GET', '/metrics', { token: ADMIN });
    assert.match(m.text, /^# (HELP|TYPE) /m);
  });

  // Last before the final check: draining the one engine stops creates.
  test('engines: the one engine is `default`; a drained engine says so, and resumed takes instances again; an unknown one is 404', async () => {
    await expect(401, 'GET', '/engines');
    const list = await expect(200, 'GET', '/engines', { token: ADMIN });
    assert.equal(list.json.length, 1);
    assert.equal(list.json[0].name, 'default');
    assert.equal(list.json[0].state, 'up');
    // Added (the same engine under a second name), drained, removed.
    const bad = await expect(400, 'POST', '/engines', { body: '{"name":"second","endpoint":"ssh://h"}', token: ADMIN });
    assert.match(bad.json.detail, /endpoint/);
    await expect(409, 'POST', '/engines', { body: JSON.stringify({ name: 'default', endpoint: manager.engine }), token: ADMIN });
    const added = await expect(201, 'POST', '/engines', { body: JSON.stringify({ name: 'second', endpoint: manager.engine, capacity: 1 }), token: ADMIN });
    assert.equal(added.json.state, 'up');
    await expect(200, 'POST', '/engines/{name}/drain', { params: { name: 'second' }, token: ADMIN });
    const removed = await call('DELETE', '/engines/{name}', { params: { name: 'second' }, token: ADMIN });
    assert.ok([202, 204].includes(removed.status), removed.text);
    await expect(409, 'DELETE', '/engines/{name}', { params: { name: 'default' }, token: ADMIN });
    await eventually('the second engine to go',
      async () => (await expect(200, 'GET', '/engines', { token: ADMIN })).json.length === 1, 30000, 200);
    await expect(404, 'POST', '/engines/{name}/drain', { params: { name: 'nope' }, token: ADMIN });
    const drained = await expect(200, 'POST', '/engines/{name}/drain', { params: { name: 'default' }, token: ADMIN });
    assert.equal(drained.json.state, 'draining');
    await expect(404, 'POST', '/engines/{name}/resume', { params: { name: 'nope' }, token: ADMIN });
    const resumed = await expect(200, 'POST', '/engines/{name}/resume', { params: { name: 'default' }, token: ADMIN });
    assert.equal(resumed.json.state, 'up');
    await expect(200, 'POST', '/engines/{name}/drain', { params: { name: 'default' }, token: ADMIN });
  });

  test('every operation of the spec answered 2xx at least once, as documented', async () => {
    await sleep(0);
    assert.deepEqual(contract.unexercised(), [], `operations of the spec not served as documented (of ${operations(spec).length})`);
  });
});
