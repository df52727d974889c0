/**
 * `steadystate playground`: the sample shop behind the fault proxy, a steady
 * load until stopped, and a metrics source, on fixed loopback ports that
 * examples/ already use — so `steadystate run examples/…` works against it
 * unchanged. It runs no experiment itself (that is `steadystate demo`).
 *
 *   shop (upstream)   127.0.0.1:3000
 *   proxy traffic     127.0.0.1:8081   ← the load goes here
 *   proxy admin       127.0.0.1:9101   (fault windows, /metrics)
 *   Prometheus        127.0.0.1:9090   (real one when installed; else the scrape source behind a
 *                                       Prometheus-compatible query_range, prometheus-shim.ts)
 *
 * Every port is checked before anything starts, so a taken one fails with its
 * flag's name instead of half a playground. stop() ends everything it started
 * (load process, Prometheus, proxy, shop); docs/adr/019-playground-and-routes.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../lib/errors.ts';
import { findBinary } from '../lib/binaries.ts';
import { createMetricSource } from '../metric-sources/registry.ts';
import type { MetricSource } from '../metric-sources/types.ts';
import { type FaultProxy, type HostPort, startFaultProxy } from '../proxy/fault-proxy.ts';
import type { LoadOptions } from './load-generator.ts';
import { PROMETHEUS_DEFAULT_PATH, startPrometheus } from './prometheus-process.ts';
import { startPrometheusShim } from './prometheus-shim.ts';
import { type SampleShop, startSampleShop } from './sample-shop.ts';

export interface PlaygroundOptions {
  shop: HostPort;
  listen: HostPort;
  admin: HostPort;
  prometheus: HostPort;
  /** Default: prometheus when installed, else scrape. */
  source?: 'prometheus' | 'scrape' | undefined;
  rate: number;
  routes: string[];
  /** Rule files for Prometheus (name → text); refused with the scrape source, which evaluates none. */
  rules?: Readonly<Record<string, string>>;
  /** Called with a line of progress (the CLI prints it). */
  say?: (line: string) => void;
}

export interface Playground {
  shopUrl: string;
  listenUrl: string;
  adminUrl: string;
  /** What a spec's `source:` should say. */
  source: { kind: 'prometheus'; url: string; step: '1s' };
  /** `prometheus` (a real one) or `scrape` (the embedded source behind the shim). */
  backend: 'prometheus' | 'scrape';
  /** Child processes, for `--json` and for tests that check nothing is left behind. */
  pids: { load: number; prometheus?: number };
  /** Resolves when the load process exits on its own (it should not): the CLI then stops. */
  loadExited: Promise<unknown>;
  /** Stops everything it started, last started first. Idempotent. */
  stop(): Promise<void>;
}

/** Fails with a clear message when `at` cannot be bound now (port 0 always can). */
export async function assertPortFree(at: HostPort, flag: string): Promise<void> {
  if (at.port === 0) return;
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: at.host, port: at.port, exclusive: true }, () => resolve());
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'is in use by another program' : `cannot be bound (${code ?? (err as Error).message})`;
    throw new ConfigError(`${at.host}:${at.port} (${flag}) ${why}: stop that program or pass ${flag} HOST:PORT`, err);
  } finally {
    if (server.listening) await new Promise((r) => server.close(r));
  }
}

export async function startPlayground(opts: PlaygroundOptions): Promise<Playground> {
  const say = opts.say ?? (() => undefined);
  const binary = opts.source === 'scrape' ? undefined : findBinary('prometheus', PROMETHEUS_DEFAULT_PATH);
  if (opts.source === 'prometheus' && !binary) throw new ConfigError('--source prometheus: no prometheus binary at /usr/bin/prometheus nor on PATH');
  if (opts.rules && !binary) throw new ConfigError('--rules: rule files need a real Prometheus, and none is installed at /usr/bin/prometheus nor on PATH (the scrape source evaluates no rules)');
  const seen = new Map<string, string>();
  for (const [flag, at] of [['--shop', opts.shop], ['--listen', opts.listen], ['--admin', opts.admin], ['--prometheus', opts.prometheus]] as const) {
    const key = `${at.host}:${at.port}`;
    if (at.port !== 0 && seen.has(key)) throw new ConfigError(`${flag} ${key} is also ${seen.get(key)}'s address`);
    seen.set(key, flag);
    await assertPortFree(at, flag);
  }

  // Stopped last-started first, except that the load and the metrics source (independent of each other)
  // stop together, then the proxy and the shop together: on a busy machine each can take seconds.
  const stops: { stage: 'front' | 'back'; stop: () => Promise<unknown> }[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const stage of ['front', 'back'] as const) {
        await Promise.all(stops.filter((s) => s.stage === stage).map((s) => s.stop().catch(() => undefined)));
      }
    })();
    return stopping;
  };
  try {
    const shop: SampleShop = await startSampleShop(opts.shop);
    stops.push({ stage: 'back', stop: () => shop.close() });
    const proxy: FaultProxy = await startFaultProxy({
      listen: opts.listen,
      admin: opts.admin,
      upstream: shop.url,
      // Far larger slices than production would use (5% each is typical), so 30 s windows have power.
      controlPercent: 50,
      experimentPercent: 50,
      stickyHeader: 'x-user-id',
      routes: opts.routes,
    });
    stops.push({ stage: 'back', stop: () => proxy.close() });
    say(`shop ${shop.url} behind the fault proxy ${proxy.listenUrl} (admin ${proxy.adminUrl}), 50% control / 50% experiment by x-user-id`);

    let backend: Playground['backend'];
    let sourceUrl: string;
    let prometheusPid: number | undefined;
    if (binary) {
      const prom = await startPrometheus({
        targets: [new URL(shop.url).host, new URL(proxy.adminUrl).host],
        scrapeInterval: '1s',
        binary,
        jobName: 'playground',
        listen: opts.prometheus,
        ...(opts.rules ? { ruleFiles: opts.rules } : {}),
      });
      stops.push({ stage: 'front', stop: () => prom.stop() });
      await prom.waitForTargetsUp(20_000);
      backend = 'prometheus';
      sourceUrl = prom.url;
      prometheusPid = prom.pid;
      say(`Prometheus (${binary}) at ${prom.url}, scraping both every 1 s${opts.rules ? `, rules: ${Object.keys(opts.rules).join(', ')}` : ''}`);
    } else {
      const config = { kind: 'scrape', targets: [`${shop.url}/metrics`, `${proxy.adminUrl}/metrics`], step: '1s', job: 'playground' };
      const scrape: MetricSource & { close?: () => Promise<void> } = createMetricSource(config);
      stops.push({ stage: 'front', stop: async () => scrape.close?.() });
      const shim = await startPrometheusShim(scrape, opts.prometheus);
      stops.push({ stage: 'front', stop: () => shim.close() });
      backend = 'scrape';
      sourceUrl = shim.url;
      say(`no prometheus installed: the embedded scrape source answers Prometheus's query_range at ${shim.url} (a PromQL subset; demos only)`);
    }

    const load = spawnLoad({
      url: proxy.listenUrl,
      paths: [
        { path: '/checkout', method: 'POST', weight: 1 },
        { path: '/browse', weight: 1 },
      ],
      ratePerSecond: opts.rate,
      users: 100_000,
      stickyHeader: 'x-user-id',
      untilStopped: true,
    });
    const loadExited = once(load, 'exit');
    const stopLoad = async (): Promise<void> => {
      if (load.exitCode !== null || load.signalCode !== null) return;
      load.kill('SIGTERM');
      // The load is disposable: 3 s for its in-flight requests, then it goes.
      const gone = await Promise.race([loadExited.then(() => true), new Promise((r) => setTimeout(() => r(false), 3_000))]);
      if (!gone) {
        load.kill('SIGKILL');
        await loadExited;
      }
    };
    stops.push({ stage: 'front', stop: stopLoad });
    say(`load: ${opts.rate} req/s (half POST /checkout, half GET /browse) from 100,000 simulated users, until stopped`);
    await warmUp(sourceUrl, say);
    return {
      shopUrl: shop.url,
      listenUrl: proxy.listenUrl,
      adminUrl: proxy.adminUrl,
      source: { kind: 'prometheus', url: sourceUrl, step: '1s' },
      backend,
      pids: { load: load.pid as number, ...(prometheusPid === undefined ? {} : { prometheus: prometheusPid }) },
      loadExited,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The load in a process of its own (load-process.ts); an IPC channel, so it stops when we die. */
function spawnLoad(opts: Omit<LoadOptions, 'signal'>): ChildProcess {
  const fromSources = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(new URL(`./load-process${fromSources ? '.ts' : '.js'}`, import.meta.url));
  const child = spawn(process.execPath, [...(fromSources ? ['--import', import.meta.resolve('tsx')] : []), script, JSON.stringify(opts)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  if (child.pid === undefined) throw new ConfigError('could not start the load process');
  return child;
}

/**
 * Ready means a spec can start now: both groups' checkout rate over the 5 s
 * window examples use has been steady for six 1 s steps (a run that starts
 * while the load ramps up reads the ramp as an effect). Bounded at 60 s; a
 * playground that never steadies still starts, with a warning.
 */
async function warmUp(url: string, say: (line: string) => void): Promise<void> {
  const probe = createMetricSource({ kind: 'prometheus', url, step: '1s' } as { kind: string });
  const deadline = Date.now() + 60_000;
  for (let i = 0; i < 120 && Date.now() < deadline; i++) {
    await new Promise((r) => setTimeout(r, 1_000));
    const end = Date.now();
    const steady = await Promise.all(
      ['control', 'experiment'].map(async (group) => {
        try {
          const r = await probe.queryRange(`sum(rate(shop_checkouts_total{group="${group}"}[5s]))`, { start: new Date(end - 8_000), end: new Date(end), stepMs: 1_000 });
          const last = (r.series[0]?.samples ?? []).slice(-6).map((p) => p.v);
          const max = Math.max(...last);
          return last.length === 6 && max > 0 && (max - Math.min(...last)) / max < 0.15;
        } catch {
          return false; // no data yet: expected for the first seconds
        }
      }),
    );
    if (steady.every(Boolean)) return;
  }
  say('warning: the checkout rate did not steady within 60 s (a busy machine?); runs may read the ramp as an effect');
}
