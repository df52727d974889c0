/**
 * The HTML pages of the service, through `app.inject`: `GET /` and
 * `GET /api/v1/runs/:id/report.html` need a viewer token (header or session cookie),
 * send a strict CSP, and show stored runs with every string escaped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { escapeHtml } from '../../src/reports/escape.ts';
import type { HttpHarness } from '../http/harness.ts';
import { startPageHarness } from '../browser/page-harness.ts';
import { insertRunFixture } from '../fixtures/runs/insert.ts';
import { failedRun, haltedRun, HOSTILE_EXPERIMENT, hostileRun, passedRun } from '../fixtures/runs/runs.ts';
import { assertSafeMarkup } from './markup.ts';

describe('HTML pages', () => {
  let h: HttpHarness;
  let session = '';
  const cookie = () => ({ cookie: `theme=dark; steadystate_session=${session}` });

  before(async () => {
    h = await startPageHarness();
    await insertRunFixture(h.store, 'run-passed', passedRun);
    await insertRunFixture(h.store, 'run-failed', failedRun);
    await insertRunFixture(h.store, 'run-halted', haltedRun);
    await insertRunFixture(h.store, 'run-hostile', hostileRun);
    // A browser session, as the login form opens one.
    const login = await h.app.inject({ method: 'POST', url: '/login', headers: { origin: 'http://localhost' }, payload: { token: h.tokens.viewer } });
    assert.equal(login.statusCode, 200, login.body);
    session = /steadystate_session=([^;]+)/.exec(String(login.headers['set-cookie']))?.[1] ?? '';
  });
  after(async () => h.close());

  it('GET / lists recent runs, newest first, with links to the three reports', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/', headers: cookie() });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /^text\/html; charset=utf-8/);
    // One script, ours: for Log out. No inline script, nothing from elsewhere.
    assert.equal(res.headers['content-security-policy'], "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['cache-control'], 'no-store');
    const order = ['run-hostile', 'run-halted', 'run-failed', 'run-passed'].map((id) => res.body.indexOf(`data-run="${id}"`));
    assert.ok(order.every((i) => i > 0), 'every run is listed');
    assert.deepEqual([...order].sort((a, b) => a - b), order, 'newest first');
    for (const id of ['run-passed', 'run-failed', 'run-halted']) {
      for (const ext of ['html', 'md', 'json']) assert.ok(res.body.includes(`href="/api/v1/runs/${id}/report.${ext}"`), `${id} ${ext}`);
    }
    assert.match(res.body, /class="pill tone-stop">halted</);
    assert.match(res.body, /class="pill tone-good">passed</);
    assert.ok(!res.body.includes(HOSTILE_EXPERIMENT));
    assert.ok(res.body.includes(escapeHtml(HOSTILE_EXPERIMENT)));
    assertSafeMarkup(res.body, { liveScript: true });
  });

  it('GET / pages with limit and before, and filters by experiment', async () => {
    const first = await h.app.inject({ method: 'GET', url: '/?limit=2', headers: cookie() });
    assert.equal(first.statusCode, 200);
    assert.equal((first.body.match(/data-run="/g) ?? []).length, 2);
    const older = /href="\/\?([^"]*)">Older runs/.exec(first.body)?.[1];
    assert.ok(older, 'a link to older runs');
    const second = await h.app.inject({ method: 'GET', url: `/?${older.replace(/&amp;/g, '&')}`, headers: cookie() });
    assert.equal(second.statusCode, 200, second.body);
    assert.ok(second.body.includes('data-run="run-failed"') && second.body.includes('data-run="run-passed"'));
    assert.ok(!second.body.includes('Older runs'));
    const filtered = await h.app.inject({ method: 'GET', url: '/?experiment=checkout-aa', headers: cookie() });
    assert.equal((filtered.body.match(/data-run="/g) ?? []).length, 1);
    assert.equal((await h.app.inject({ method: 'GET', url: '/?limit=0', headers: cookie() })).statusCode, 400);
  });

  it('GET / needs a token: none → 401; a bearer header works as well as the cookie', async () => {
    assert.equal((await h.app.inject({ method: 'GET', url: '/' })).statusCode, 401);
    assert.equal((await h.app.inject({ method: 'GET', url: '/', headers: { cookie: 'steadystate_session=sst_nope' } })).statusCode, 401);
    // The old token cookie is no longer read: a browser logs in at /login.
    assert.equal((await h.app.inject({ method: 'GET', url: '/', headers: { cookie: `steadystate_token=${h.tokens.viewer}` } })).statusCode, 401);
    const res = await h.app.inject({ method: 'GET', url: '/', headers: { authorization: `Bearer ${h.tokens.viewer}` } });
    assert.equal(res.statusCode, 200);
  });

  it('GET /api/v1/runs/:id/report.html renders the stored run with its spec and charts', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/v1/runs/run-halted/report.html', headers: cookie() });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    assert.match(String(res.headers['content-security-policy']), /^default-src 'none'/);
    assert.match(res.body, /<span class="state">HALTED<\/span>/);
    assert.match(res.body, /class="series series-control"/);
    assert.match(res.body, /class="series series-experiment"/);
    assert.match(res.body, /class="fault-window"/);
    assert.match(res.body, /class="halt-marker"/);
    assert.match(res.body, /spec version 1/);
    // In the order people write it, although the store hands it back with its keys sorted.
    assert.match(res.body, /<pre class="spec">apiVersion: steadystate\.dev\/v1alpha1\nkind: Experiment\nmetadata:\n {2}name: checkout-errors\n/);
    // The store keeps the halt's recent evaluations, so the guardrail is charted too.
    assert.match(res.body, /class="series series-value"/);
    assertSafeMarkup(res.body);
  });

  it('report.html of the hostile run renders the names as text', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/v1/runs/run-hostile/report.html', headers: cookie() });
    assert.equal(res.statusCode, 200);
    assert.ok(!res.body.includes(HOSTILE_EXPERIMENT));
    assert.ok(res.body.includes(`<h1>${escapeHtml(HOSTILE_EXPERIMENT)}</h1>`));
    assertSafeMarkup(res.body);
  });

  it('report.html of an unknown run is a 404', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/v1/runs/nope/report.html', headers: cookie() });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error, 'not_found');
  });
});
