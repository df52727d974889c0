/**
 * The live run page in a real browser (Debian's chromium through
 * playwright-core), against the service on loopback with a real run: the
 * Prometheus source and the webhook injector talk HTTP to a deterministic
 * local world (test/helpers/synthetic-world.ts).
 *
 * A person without a session is sent to /login; logs in with a token; sees
 * the index; opens the active run; watches it update by itself (a sample
 * arrives); aborts it with a reason; sees the reason on the run and the window
 * closed. /docs loads after login. Log out ends the session.
 *
 * Skips loudly without chromium; under CI=true or STEADYSTATE_REQUIRE_CHROMIUM=1
 * that is a failure instead.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { checkBinary, missingPrerequisite } from '../helpers/skip.ts';
import { startSyntheticWorld, syntheticSpecYaml, type SyntheticWorld } from '../helpers/synthetic-world.ts';
import type { HttpHarness } from '../http/harness.ts';
import { CHROMIUM_ARGS, logInWithForm, startPageHarness } from './page-harness.ts';

const chromiumBinary = checkBinary('chromium', process.env.STEADYSTATE_CHROMIUM ?? '/usr/bin/chromium');
const playwright = chromiumBinary.skip ? undefined : await import('playwright-core').catch((err: unknown) => err as Error);
const skip: string | false =
  chromiumBinary.skip || (playwright instanceof Error || playwright === undefined ? missingPrerequisite('chromium', `playwright-core cannot be loaded: ${String(playwright)}`) : false);

const REASON = 'checkout errors paged the on-call <b>now</b>';

/** The steady-state sample count the report states for its first metric ("N control and M experiment samples"). */
async function sampleCount(page: Page): Promise<number> {
  const text = await page.locator('#live-report').innerText();
  const m = /(\d+) control and (\d+) experiment samples/.exec(await page.locator('#live-report svg desc').first().textContent() ?? text);
  return m ? Number(m[1]) + Number(m[2]) : 0;
}

describe('the live run page in a browser (chromium)', { skip }, () => {
  let h: HttpHarness;
  let world: SyntheticWorld;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let runId: string;

  before(async () => {
    if (playwright instanceof Error || playwright === undefined) return;
    world = await startSyntheticWorld();
    h = await startPageHarness();
    const created = await h.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': 'application/yaml' },
      payload: syntheticSpecYaml('live-checkout', world, { duration: '2m' }),
    });
    assert.equal(created.statusCode, 201, created.body);
    const started = await h.app.inject({ method: 'POST', url: '/api/v1/experiments/live-checkout/runs', headers: { authorization: `Bearer ${h.tokens.operator}` } });
    assert.equal(started.statusCode, 201, started.body);
    runId = started.json<{ run: { id: string } }>().run.id;
    // Bounded wait for the window to open (an event would be nicer; the store is what the page reads).
    for (let i = 0; i < 150 && (await h.store.runs.get(runId))?.state !== 'injecting'; i++) await new Promise((r) => setTimeout(r, 200));
    assert.equal((await h.store.runs.get(runId))?.state, 'injecting');
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    browser = await playwright.chromium.launch({ executablePath: chromiumBinary.path, args: CHROMIUM_ARGS, timeout: 60_000 });
    context = await browser.newContext();
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await h?.close();
    await world?.stop();
  });

  it('without a session, / and /docs send the browser to the login page (not raw 401 JSON)', async () => {
    const anonymous = await browser.newContext();
    try {
      const page = await anonymous.newPage();
      for (const path of ['/', `/runs/${runId}`, '/docs']) {
        await page.goto(`${base}${path}`, { waitUntil: 'load' });
        assert.equal(new URL(page.url()).pathname, '/login', path);
        assert.equal(await page.locator('input[name="token"]').count(), 1);
      }
    } finally {
      await anonymous.close();
    }
  });

  it('logs in, sees the index, opens the active run and watches it update, then aborts it with a reason', async () => {
    await logInWithForm(context, base, h.tokens.operator);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(msg.text());
    });
    page.on('dialog', (dialog) => void dialog.accept());
    await page.goto(`${base}/`, { waitUntil: 'load' });
    const row = page.locator(`tr[data-run="${runId}"]`);
    assert.equal(await row.count(), 1, 'the run is on the index');
    assert.match(await row.innerText(), /injecting/i);
    await Promise.all([page.waitForURL(`${base}/runs/${runId}`), row.locator('a', { hasText: 'live-checkout' }).click()]);

    assert.equal(await page.getAttribute('#live-run', 'data-active'), 'true');
    assert.match(await page.locator('#live-state').innerText(), /injecting/i);
    // (Locators, not waitForFunction strings: the page's CSP rightly refuses eval.)
    await page.locator('#live-time-left', { hasText: /time left in the fault window: \d/ }).waitFor({ timeout: 10_000 });
    // Guardrail evaluations are on the page as they are made.
    assert.match(await page.locator('#live-report').innerText(), /error-ratio/);

    // It updates by itself: a new sample arrives without a reload.
    const first = await sampleCount(page);
    // Each poll of the page's script replaces the report; check after each one (bounded: 20 s).
    for (let i = 0; i < 40 && (await sampleCount(page)) <= first; i++) {
      await page.locator('#live-updated', { hasText: /^updated / }).waitFor({ timeout: 5_000 });
      await page.waitForTimeout(500);
    }
    assert.ok((await sampleCount(page)) > first);
    assert.doesNotMatch(await page.locator('#live-report').innerText(), /0 evaluations/);

    // Abort, with a reason (escaped where shown).
    assert.equal(await page.locator('form[data-action="halt-all"]').count(), 1, 'an operator may press halt-all');
    await page.fill('form[data-action="abort"] input[name="reason"]', REASON);
    await page.click('form[data-action="abort"] button');
    await page.waitForSelector('#live-run[data-state="aborted"]', { timeout: 30_000 });
    const report = await page.locator('#live-report').innerText();
    assert.ok(report.includes(REASON), 'the reason is shown on the run');
    assert.match(report, /closed after [^\n]*\(abort\)/, 'the fault window is shown closed');
    assert.equal(await page.locator('#live-controls').isVisible(), false, 'no buttons on an ended run');
    assert.equal(await page.locator('#live-report b').count(), 0, 'the reason is text, not markup');
    assert.deepEqual(errors, []);

    const stored = await h.store.runs.get(runId);
    assert.equal(stored?.state, 'aborted');
    assert.ok(stored?.reason.includes(REASON), stored?.reason);
    assert.ok(stored?.window?.closedAt, 'the window was closed');
    assert.ok(world.closes() >= 1, 'the fault API was told to close');
    const events = await h.store.runs.events(runId);
    assert.ok(events.some((e) => e.type === 'run.abort_requested' && e.message.includes(REASON) && e.message.includes('otto')));
    await page.close();
  });

  it('/docs loads after login, and Log out ends the session', async () => {
    const page = await context.newPage();
    const res = await page.goto(`${base}/docs`, { waitUntil: 'load' });
    assert.equal(new URL(page.url()).pathname.startsWith('/docs'), true, page.url());
    assert.equal(res?.ok(), true);
    const spec = await page.goto(`${base}/docs/json`, { waitUntil: 'load' });
    assert.equal(spec?.status(), 200);
    assert.match(await spec.text(), /"openapi"/);

    await page.goto(`${base}/`, { waitUntil: 'load' });
    await Promise.all([page.waitForURL(`${base}/login`), page.click('button[data-logout]')]);
    await page.goto(`${base}/`, { waitUntil: 'load' });
    assert.equal(new URL(page.url()).pathname, '/login', 'the session is gone');
    await page.close();
  });
});
