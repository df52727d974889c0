/**
 * The reconciler's fault path: a run left active with an open window whose
 * backend refuses the close. The run must stay active (its target locked, a
 * critical event recorded), and a later pass — once the backend answers —
 * must close the window and end the run aborted.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { RunService } from '../../src/service/run-service.ts';
import { validateExperiment } from '../../src/spec/load.ts';
import { openStore } from '../../src/store/open-store.ts';
import { freePort } from '../helpers/ports.ts';

test('a window the reconciler cannot close keeps its run active and raises a critical event; the next pass closes it', async () => {
  const port = await freePort();
  const backend = `http://127.0.0.1:${port}`;
  const store = await openStore({ memory: true });
  try {
    const parsed = validateExperiment({
      apiVersion: 'steadystate.dev/v1alpha1',
      kind: 'Experiment',
      metadata: { name: 'left-open' },
      spec: {
        source: { kind: 'prometheus', url: 'http://127.0.0.1:9' },
        steadyState: [{ name: 'sps', query: 'sum(rate(x{group="$group"}[5s]))' }],
        fault: { injector: 'webhook', params: { open: { url: `${backend}/open` }, close: { url: `${backend}/close`, method: 'DELETE' }, timeout: '500ms' }, duration: '1m' },
      },
    });
    assert.ok(parsed.ok);
    await store.experiments.create({ name: 'left-open', spec: parsed.experiment, source: '{}', format: 'json', actor: 'test' });
    await store.runs.create({ id: 'run-left-open', experiment: 'left-open', version: 1, target: 'webhook:left-open', actor: 'test' });
    // As a process that died mid-window leaves it: injecting, with the handle the webhook adapter wrote.
    await store.runs.update('run-left-open', {
      state: 'injecting',
      window: {
        openedAt: new Date().toISOString(),
        deadline: new Date(Date.now() + 60_000).toISOString(),
        handle: { injector: 'webhook', close: { url: `${backend}/close`, method: 'DELETE', headers: {} }, timeoutMs: 500 },
      },
    });
    const runs = new RunService(store, loadConfig({}), pino({ level: 'silent' }));

    // Nothing listens on the backend port: every close attempt is refused.
    const first = await runs.reconcile({ staleAfterMs: 0 });
    assert.deepEqual(first, { resumed: [], reconciled: [], failures: ["run-left-open"] });
    const stillActive = await store.runs.get('run-left-open');
    assert.equal(stillActive?.state, 'injecting', 'never marked ended while its fault may be running');
    const critical = (await store.runs.events('run-left-open')).find((e) => e.type === 'window.close_failed');
    assert.equal(critical?.data?.critical, true);
    await assert.rejects(
      store.runs.create({ id: 'run-2', experiment: 'left-open', version: 1, target: 'webhook:left-open', actor: 'test' }),
      /locked/i,
      'the target stays locked',
    );

    // The backend comes back: the next pass closes the window and ends the run.
    const closes: string[] = [];
    const server = createServer((req, res) => {
      closes.push(`${req.method} ${req.url}`);
      req.resume();
      res.writeHead(204);
      res.end();
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    try {
      const second = await runs.reconcile({ staleAfterMs: 0 });
      assert.deepEqual(second, { resumed: [], reconciled: ["run-left-open"], failures: [] });
      assert.deepEqual(closes, ['DELETE /close']);
      const ended = await store.runs.get('run-left-open');
      assert.equal(ended?.state, 'aborted');
      assert.match(ended?.reason ?? '', /closed by the reconciler/);
      assert.ok(ended?.window?.closedAt);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  } finally {
    await store.close();
  }
});

test('an open that left no handle (crash between the open and recording it): the command injector’s close is rendered from the opening’s record and run', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'steadystate-reconcile-'));
  const log = join(dir, 'closes.log');
  const store = await openStore({ memory: true });
  try {
    // close appends its argv to the log: `close <runId> <deadlineUnix>`.
    const closeArgv = [process.execPath, '-e', "require('node:fs').appendFileSync(process.argv[1], process.argv.slice(2).join(' ') + '\\n')", log, 'close', '{{runId}}', '{{deadlineUnix}}'];
    const parsed = validateExperiment({
      apiVersion: 'steadystate.dev/v1alpha1',
      kind: 'Experiment',
      metadata: { name: 'in-flight' },
      spec: {
        source: { kind: 'prometheus', url: 'http://127.0.0.1:9' },
        steadyState: [{ name: 'sps', query: 'sum(rate(x{group="$group"}[5s]))' }],
        fault: { injector: 'command', params: { open: [process.execPath, '-e', ''], close: closeArgv }, duration: '1m' },
      },
    });
    assert.ok(parsed.ok);
    await store.experiments.create({ name: 'in-flight', spec: parsed.experiment, source: '{}', format: 'json', actor: 'test' });
    await store.runs.create({ id: 'run-in-flight', experiment: 'in-flight', version: 1, target: 'command:in-flight', actor: 'test' });
    // As a process killed during the open leaves it: the opening recorded (with its deadline), no window.
    const deadline = '2026-12-02T10:01:00.000Z';
    await store.runs.update('run-in-flight', { state: 'baseline' });
    await store.runs.appendEvent('run-in-flight', { type: 'window.opening', message: 'opening fault window', data: { injector: 'command', deadline } });
    const runs = new RunService(store, loadConfig({ STEADYSTATE_COMMAND_ALLOW: process.execPath }), pino({ level: 'silent' }));

    const pass = await runs.reconcile({ staleAfterMs: 0 });
    assert.deepEqual(pass, { resumed: [], reconciled: ['run-in-flight'], failures: [] });
    assert.equal(await readFile(log, 'utf8'), `close run-in-flight ${Date.parse(deadline) / 1000}\n`, 'the close ran once, rendered for this run');
    const ended = await store.runs.get('run-in-flight');
    assert.equal(ended?.state, 'aborted');
    assert.match(ended?.reason ?? '', /closed by the reconciler/);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
