/**
 * `npm run bench:starts` — how fast `POST /api/v1/experiments/{name}/runs`
 * answers when N runs (default 100, BENCH_STARTS) are started at once, on
 * PGlite and on PostgreSQL (when a PostgreSQL server can be started, or
 * BENCH_DATABASE_URL names one). Prints p50/p95/max of the start answers, how
 * many were created, and p50/p95 of the time from the POST to the window's
 * open (preflight runs in the background).
 *
 * `steadystate serve` runs as a child process, as operators run it. Its
 * metric source is a local Prometheus-API answerer (constant series), its
 * injector a webhook to a local server, one target per experiment; every
 * window is closed by halt-all at the end. Loopback only; every loop bounded.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { startServiceProcess, type RunningService } from '../calibrate/service-process.ts';
import { checkPostgres, startPostgres, type RunningPostgres } from '../../test/helpers/postgres.ts';

const N = Math.min(500, Number(process.env.BENCH_STARTS ?? 100));

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Prometheus' query API answering a constant 100 at every step; buildinfo for the check. */
function prometheusAnswerer(): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url?.startsWith('/api/v1/status/buildinfo')) {
        res.end(JSON.stringify({ status: 'success', data: { version: '2.53.0' } }));
        return;
      }
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const start = Number(form.get('start'));
      const end = Number(form.get('end'));
      const step = Number(form.get('step')) || 1;
      const values: [number, string][] = [];
      for (let t = start; t <= end + 1e-9 && values.length < 11_000; t += step) values.push([t, '100']);
      res.end(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values }] } }));
    });
  });
}

interface Result {
  store: string;
  starts: number;
  created: number;
  refused: Record<string, number>;
  answerP50: number;
  answerP95: number;
  answerMax: number;
  windowP50: number;
  windowP95: number;
}

async function measure(store: string, service: RunningService, promUrl: string, hookUrl: string): Promise<Result> {
  const tag = store.replace(/\W/g, '');
  for (let i = 0; i < N; i += 10) {
    await Promise.all(
      Array.from({ length: Math.min(10, N - i) }, async (_, k) => {
        const name = `start-${tag}-${i + k}`;
        const created = await service.api('POST', '/api/v1/experiments', {
          json: {
            apiVersion: 'steadystate.dev/v1alpha1',
            kind: 'Experiment',
            metadata: { name },
            spec: {
              source: { kind: 'prometheus', url: promUrl, step: '1s' },
              steadyState: [{ name: 'kpi', query: 'sum(kpi{group="$group"})', direction: 'decrease' }],
              fault: { injector: 'webhook', params: { open: { url: `${hookUrl}/open/${name}` }, close: { url: `${hookUrl}/close/${name}` } }, duration: '60s' },
              analysis: { interval: '5s', minSamples: 3 },
            },
          },
        }, { timeoutMs: 60_000 });
        if (created.status !== 201) throw new Error(`create ${name}: ${created.status} ${JSON.stringify(created.body)}`);
      }),
    );
  }
  const answers: { ms: number; status: number; id?: string; code?: string; at: number }[] = await Promise.all(
    Array.from({ length: N }, async (_, i) => {
      const at = Date.now();
      const res = await service.api<{ run?: { id: string }; error?: string }>('POST', `/api/v1/experiments/start-${tag}-${i}/runs`, undefined, { timeoutMs: 120_000 });
      return { ms: Date.now() - at, status: res.status, at, ...(res.body.run ? { id: res.body.run.id } : {}), ...(res.body.error ? { code: res.body.error } : {}) };
    }),
  );
  const created = answers.filter((a) => a.status === 201 && a.id);
  const refused: Record<string, number> = {};
  for (const a of answers) if (a.status !== 201) refused[`${a.status} ${a.code ?? ''}`] = (refused[`${a.status} ${a.code ?? ''}`] ?? 0) + 1;

  // Time from the POST to the open window, polled (bounded).
  const windows = new Map<string, number>();
  for (let round = 0; round < 120 && windows.size < created.length; round++) {
    for (const a of created) {
      if (windows.has(a.id!)) continue;
      const res = await service.api<{ run: { window?: { openedAt: string } | null; state: string } }>('GET', `/api/v1/runs/${a.id!}`, undefined, { timeoutMs: 30_000 });
      if (res.body.run.window?.openedAt) windows.set(a.id!, Date.parse(res.body.run.window.openedAt) - a.at);
      else if (!['pending', 'preflight', 'baseline', 'injecting'].includes(res.body.run.state)) windows.set(a.id!, NaN);
    }
    if (windows.size < created.length) await delay(1_000);
  }
  await service.api('POST', '/api/v1/halt-all', undefined, { timeoutMs: 120_000 });
  await service.api('DELETE', '/api/v1/halt-all', undefined, { timeoutMs: 30_000 });
  const ms = answers.map((a) => a.ms);
  const opened = [...windows.values()].filter(Number.isFinite);
  return {
    store,
    starts: N,
    created: created.length,
    refused,
    answerP50: quantile(ms, 0.5),
    answerP95: quantile(ms, 0.95),
    answerMax: Math.max(...ms),
    windowP50: quantile(opened, 0.5),
    windowP95: quantile(opened, 0.95),
  };
}

async function main(): Promise<void> {
  const prom = prometheusAnswerer();
  const hooks = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  const promUrl = await listen(prom);
  const hookUrl = await listen(hooks);
  const results: Result[] = [];
  let pg: RunningPostgres | undefined;
  try {
    const stores: { name: string; databaseUrl?: string }[] = [{ name: 'pglite' }];
    if (process.env.BENCH_DATABASE_URL) stores.push({ name: 'postgres', databaseUrl: process.env.BENCH_DATABASE_URL });
    else {
      const check = checkPostgres();
      if (!check.skip) {
        pg = await startPostgres({ install: check.install });
        stores.push({ name: 'postgres', databaseUrl: await pg.createDatabase('bench_starts') });
      } else process.stdout.write('⚠ no PostgreSQL found: measuring PGlite only\n');
    }
    // BENCH_STORES=postgres (or pglite) measures one of them.
    const only = process.env.BENCH_STORES?.split(',');
    for (const store of stores.filter((s) => !only || only.includes(s.name))) {
      const service = await startServiceProcess({ maxConcurrentRuns: N + 10, ...(store.databaseUrl ? { databaseUrl: store.databaseUrl } : {}) });
      try {
        const r = await measure(store.name, service, promUrl, hookUrl);
        results.push(r);
        process.stdout.write(`${JSON.stringify(r)}\n`);
      } finally {
        await service.stop();
      }
    }
  } finally {
    await pg?.stop();
    prom.close();
    hooks.close();
  }
  const lines = [
    `# bench:starts — ${N} runs started at once (${new Date().toISOString()})`,
    '',
    '| store | created | refused | answer p50 | answer p95 | answer max | POST→window p50 | POST→window p95 |',
    '|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.store} | ${r.created}/${r.starts} | ${JSON.stringify(r.refused)} | ${r.answerP50} ms | ${r.answerP95} ms | ${r.answerMax} ms | ${Math.round(r.windowP50)} ms | ${Math.round(r.windowP95)} ms |`,
    ),
    '',
  ];
  process.stdout.write(lines.join('\n'));
  await mkdir('reports/bench', { recursive: true });
  await writeFile('reports/bench/starts.md', lines.join('\n'));
}

await main();
