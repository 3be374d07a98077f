// The docs page and the dashboard in a real browser: Debian's Chromium,
// headless, driven by Playwright (playwright-core: no browser download),
// against `warmpool serve` on the real engine with tokens configured.
// Screenshots go to $WARMPOOL_ARTIFACTS (docs.png, try-it-out.png, dashboard.png,
// dashboard-charts.png...).
'use strict';
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { Manager } = require('./support/manager');
const { loadSpec, operations } = require('./support/spec');

const API = 'api-token-browser';
const ADMIN = 'admin-token-browser';
const CHROMIUM = process.env.WARMPOOL_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.WARMPOOL_ARTIFACTS || path.join(os.tmpdir(), 'warmpool-test-artifacts');

describe('in headless Chromium', () => {
  const manager = new Manager({ name: 'browser', apiToken: API, adminToken: ADMIN, flags: ['--max-instances', '2'] });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'warmpool-chromium-'));
  let browser;
  let page;
  const requestsElsewhere = [];
  const pageErrors = [];
  let allocated;  // the allocation the dashboard test made

  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await manager.start();
    // A fresh profile; no background traffic (this machine has no network but loopback).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = browser.pages()[0] || await browser.newPage();
    page.setDefaultTimeout(15000);
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (!['127.0.0.1', 'localhost'].includes(u.hostname) && u.protocol.startsWith('http')) requestsElsewhere.push(r.url());
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await manager.idle(1);
  });

  after(async () => {
    if (browser) await browser.close();
    await manager.stop();
    fs.rmSync(profile, { recursive: true, force: true });
  });

  test('the docs page renders Swagger UI and lists every operation of the spec', async () => {
    await page.goto(manager.base + '/');
    await page.locator('.opblock').first().waitFor();
    const listed = await page.$$eval('.opblock', (blocks) => blocks.map((b) => {
      const method = b.querySelector('.opblock-summary-method').textContent.trim();
      const p = b.querySelector('.opblock-summary-path');
      return `${method} ${p.getAttribute('data-path') || p.textContent.trim()}`;
    }));
    const expected = operations(loadSpec());
    assert.deepEqual([...listed].sort(), expected);
    assert.match(await page.locator('.info .title').innerText(), /warmpool/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'docs.png'), fullPage: true });
    assert.deepEqual(requestsElsewhere, [], 'the docs page asks no other host');
    assert.deepEqual(pageErrors, []);
  });

  test('"Try it out" on POST /allocations, authorized with the API token, returns 201', async () => {
    // Authorize: the dialog lists both bearer schemes; fill the API token.
    await page.locator('button.authorize').first().click();
    const dialog = page.locator('.dialog-ux .modal-ux');
    await dialog.waitFor();
    const apiScheme = dialog.locator('.auth-container')
      .filter({ has: page.locator('h4 code', { hasText: /^apiToken$/ }) });
    await apiScheme.locator('input').fill(API);
    await apiScheme.locator('button.authorize').click();
    await apiScheme.getByText('Authorized', { exact: true }).waitFor();
    await dialog.locator('button.close-modal').click();

    const op = page.locator('#operations-allocations-allocate');
    await op.locator('.opblock-summary').click();
    await op.getByRole('button', { name: 'Try it out' }).click();
    await op.locator('textarea.body-param__text').fill('{"lease_seconds": 120, "client": "swagger-ui"}');
    await op.getByRole('button', { name: 'Execute' }).click();
    const status = op.locator('.live-responses-table tbody .response-col_status').first();
    await status.waitFor();
    const code = (await status.innerText()).trim();
    const body = await op.locator('.live-responses-table tbody .response-col_description pre').first().innerText();
    await op.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, 'try-it-out.png'), fullPage: false });
    assert.equal(code, '201', body);
    const allocation = JSON.parse(body);
    assert.match(allocation.id, /^[0-9a-f]{32}$/);
    assert.equal(allocation.client, 'swagger-ui');
    assert.deepEqual(requestsElsewhere, []);
  });

  test('the dashboard shows a new allocation within a few seconds, without reloading', async () => {
    await page.goto(manager.base + '/dashboard');
    // The feed needs the admin token: the page asks for it.
    await page.locator('#login.shown').waitFor();
    await page.locator('#token').fill(ADMIN);
    await page.locator('#login button').click();
    await page.locator('#status.live').waitFor({ timeout: 5000 });
    await page.locator('#instance-rows tr[data-instance-id]').first().waitFor({ timeout: 5000 });
    let reloaded = false;
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) reloaded = true; });

    const res = await fetch(manager.base + '/allocations', {
      method: 'POST',
      headers: { Authorization: `Bearer ${API}`, 'Content-Type': 'application/json' },
      body: '{"client":"browser-test"}',
    });
    assert.equal(res.status, 201);
    const a = await res.json();
    const started = Date.now();
    const row = page.locator(`#allocation-rows tr[data-allocation-id="${a.id}"]`);
    await row.waitFor({ timeout: 5000 });
    const seenAfter = Date.now() - started;
    assert.match(await row.innerText(), /browser-test/);
    // Its instance shows as allocated, and the state tiles count it.
    await page.locator(`#instance-rows tr[data-instance-id="${a.instance}"] .s-allocated`).waitFor({ timeout: 5000 });
    const allocatedTile = await page.locator('.tile[data-state="allocated"] .count').innerText();
    assert.ok(Number(allocatedTile) >= 1);
    assert.equal(reloaded, false, 'the page updated in place');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    assert.ok(seenAfter < 5000, `shown after ${seenAfter} ms`);
    assert.deepEqual(requestsElsewhere, []);
    assert.deepEqual(pageErrors, []);
    allocated = a;
  });

  test('the dashboard shows a container killed behind the manager\'s back, and its recovery', async () => {
    assert.ok(allocated, 'needs the allocation of the previous test');
    const admin = { Authorization: `Bearer ${ADMIN}` };
    const instance = await (await fetch(`${manager.base}/instances/${allocated.instance}`, { headers: admin })).json();
    const killed = await manager.engineCall('POST', `/containers/${instance.containerId}/kill`);
    assert.equal(killed.status, 204, killed.body);
    // The fault (the container exited) shows, as a fault while the instance is
    // down or as what it recovered from once it is back: the restart takes
    // well under the dashboard's second.
    const rows = page.locator('#fault-rows tr').filter({ has: page.locator(`td:nth-child(2)`, { hasText: new RegExp(`^${instance.id}$`) }) });
    await rows.filter({ hasText: /exited/ }).first().waitFor({ timeout: 10000 });
    await rows.and(page.locator('[data-kind="recovered"]')).first().waitFor({ timeout: 30000 });
    // The allocation on the lost instance has ended: it left the table.
    await page.locator(`#allocation-rows tr[data-allocation-id="${allocated.id}"]`).waitFor({ state: 'detached', timeout: 10000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-recovery.png'), fullPage: true });
    assert.deepEqual(pageErrors, []);
  });

  test('the dashboard charts the last 15 minutes, and the charts move', async () => {
    // Still on the dashboard, with the admin token of the tests above.
    const history = page.locator('#history');
    await history.scrollIntoViewIfNeeded();
    for (const id of ['chart-pool', 'chart-handout']) {
      const canvas = page.locator(`#${id} canvas`).first();
      await canvas.waitFor({ timeout: 10000 });
      const box = await canvas.boundingBox();
      assert.ok(box && box.width > 100 && box.height > 100, `${id}: canvas ${JSON.stringify(box)}`);
    }
    const legend = await page.locator('#chart-pool .u-legend').innerText();
    for (const label of ['arrivals/s', 'in use', 'idle running', 'idle paused', 'target idle']) {
      assert.ok(legend.includes(label), `the pool chart's legend names ${label}: ${legend}`);
    }
    assert.match(await page.locator('#chart-handout .u-legend').innerText(), /p50 ms[\s\S]*p99 ms/);
    // A sample comes each scheduler tick; the page polls every few seconds.
    await page.waitForFunction(() => Number(document.getElementById('history').dataset.points) > 0,
      null, { timeout: 15000 });
    const first = await history.getAttribute('data-last-sample');
    await page.waitForFunction((before) => document.getElementById('history').dataset.lastSample !== before,
      first, { timeout: 15000 });
    const later = await history.getAttribute('data-last-sample');
    assert.ok(new Date(later) > new Date(first), `${first} then ${later}`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-charts.png'), fullPage: true });
    assert.deepEqual(requestsElsewhere, []);
    assert.deepEqual(pageErrors, []);
  });
  test('the dashboard lists each pool and each engine, as GET /pools and GET /engines give them', async () => {
    // Still on the dashboard, with the admin token. A second pool, of an image
    // that knows nothing of warmpool, with no floor: nothing is created for it.
    const admin = { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' };
    const made = await fetch(`${manager.base}/pools`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'httpd', image: 'warmpool/busybox-httpd:latest', portFirst: 20500,
        portLast: 20519, minIdle: 0, maxIdle: 2, health: 'http', healthPath: '/', reset: 'restart' }),
    });
    assert.equal(made.status, 201, await made.text());
    const pools = await (await fetch(`${manager.base}/pools`, { headers: admin })).json();
    assert.deepEqual(pools.map((p) => p.name).sort(), ['default', 'httpd']);
    await page.locator('#pool-rows tr[data-pool="httpd"]').waitFor({ timeout: 5000 });
    const shown = await page.locator('#pool-rows tr[data-pool]').evaluateAll((rows) => rows.map((r) => r.dataset.pool));
    assert.deepEqual(shown.sort(), ['default', 'httpd']);
    for (const p of pools) {
      const cells = await page.locator(`#pool-rows tr[data-pool="${p.name}"] td`).allInnerTexts();
      assert.equal(cells[0], p.name);
      assert.equal(cells[1], 'active');
      assert.equal(cells[2], `${p.minIdle} / ${p.maxIdle}`);
      assert.equal(cells[4], p.image);
      assert.equal(cells[5], `${p.health} / ${p.reset}`);
    }
    assert.equal((await page.locator('#pool-rows tr[data-pool="httpd"] td').nth(3).innerText()).trim(), 'none');
    // default keeps its instance (the test manager's floor): a state with a count.
    assert.match(await page.locator('#pool-rows tr[data-pool="default"] td').nth(3).innerText(),
      /(ready|paused|allocated|starting|resetting) \d+/);
    assert.match(await page.locator('#pool-rows tr[data-pool="httpd"] td').nth(4).innerText(), /busybox-httpd/);

    const engines = await (await fetch(`${manager.base}/engines`, { headers: admin })).json();
    assert.ok(engines.length >= 1);
    // The default pool's floor keeps an instance, and the one engine counts it.
    assert.ok(engines.reduce((n, e) => n + e.instances, 0) >= 1, JSON.stringify(engines));
    await page.locator(`#engine-rows tr[data-engine="${engines[0].name}"]`).waitFor({ timeout: 5000 });
    const engineRows = await page.locator('#engine-rows tr[data-engine]').evaluateAll((rows) => rows.map((r) => r.dataset.engine));
    assert.deepEqual(engineRows.sort(), engines.map((e) => e.name).sort());
    for (const e of engines) {
      const cells = await page.locator(`#engine-rows tr[data-engine="${e.name}"] td`).allInnerTexts();
      assert.equal(cells[1], e.state);
      assert.match(cells[2], e.capacity > 0 ? new RegExp(`^\\d+ / ${e.capacity}$`) : /^\d+ \/ no limit$/);
      if (e.instances > 0) assert.ok(Number(cells[2].split(' / ')[0]) >= 1, cells[2]);
    }
    await page.locator('#pools').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-pools.png'), fullPage: true });
    assert.deepEqual(requestsElsewhere, []);
    assert.deepEqual(pageErrors, []);
  });
});
