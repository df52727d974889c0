/**
 * The in-memory service (test/http/harness.ts) with the page routes, and
 * helpers to fill its store with fixture runs. `registerPageRoutes` is added
 * here only when the app does not register it itself yet, so the tests run
 * the same before and after src/http/app.ts wires it in.
 */
import type { BrowserContext } from 'playwright-core';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/config.ts';
import { buildHttpApp, routesOf } from '../../src/http/app.ts';
import { registerPageRoutes } from '../../src/http/page-routes.ts';
import { RunService } from '../../src/service/run-service.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { HttpHarness } from '../http/harness.ts';

/** How the browser tests launch Debian's chromium (headless, in a container without a sandbox). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function startPageHarness(env: NodeJS.ProcessEnv = {}): Promise<HttpHarness> {
  const config = loadConfig({ STEADYSTATE_LISTEN: '127.0.0.1:0', ...env });
  const store = await openStore({ memory: true });
  const logger = pino({ level: process.env.STEADYSTATE_TEST_LOG ?? 'silent' });
  const runs = new RunService(store, config, logger);
  const deps = { store, runs, config, logger, metrics: new Registry() };
  const app = await buildHttpApp(deps);
  if (!routesOf(app).some((r) => r.url === '/api/v1/runs/:id/report.html')) registerPageRoutes(app, deps);
  await app.ready();
  const tokens = {
    viewer: (await store.tokens.create({ name: 'vera', role: 'viewer' })).token,
    operator: (await store.tokens.create({ name: 'otto', role: 'operator' })).token,
    admin: (await store.tokens.create({ name: 'ada', role: 'admin' })).token,
  };
  return {
    app,
    store,
    runs,
    config,
    tokens,
    async close() {
      await runs.shutdown(5_000);
      await app.close();
      await store.close();
    },
  };
}

/** Log in the way a person does: type the token into GET /login and submit; the server sets the session cookie. */
export async function logInWithForm(context: BrowserContext, base: string, token: string): Promise<void> {
  const page = await context.newPage();
  try {
    await page.goto(`${base}/login`, { waitUntil: 'load' });
    await page.fill('input[name="token"]', token);
    await Promise.all([page.waitForURL(`${base}/`, { timeout: 15_000 }), page.click('button[type="submit"]')]);
  } finally {
    await page.close();
  }
}
