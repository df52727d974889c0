/**
 * `steadystate playground [--shop H:P] [--listen H:P] [--admin H:P] [--prometheus H:P]
 *  [--source prometheus|scrape] [--rate N] [--route PATTERN…] [--json]`
 *
 * Starts the playground (src/demo/playground.ts), prints what a spec should
 * say to use it, and runs until SIGINT/SIGTERM, then stops everything it
 * started before it exits. Loopback addresses only: the playground's proxy
 * admin API opens faults for whoever reaches it.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { type InputIssue, ValidationError } from '../lib/errors.ts';
import { MAX_RATE } from '../demo/load-generator.ts';
import type { Playground } from '../demo/playground.ts';
import type { HostPort } from '../proxy/fault-proxy.ts';

/** The ports examples/ use; every doc names the same (README, docs/cli.md, docs/injectors/http-proxy.md). */
export const PLAYGROUND_DEFAULTS = {
  shop: '127.0.0.1:3000',
  listen: '127.0.0.1:8081',
  admin: '127.0.0.1:9101',
  prometheus: '127.0.0.1:9090',
  /** Half /checkout, half /browse; 50/50 groups → ~100 checkouts/s per group, what examples/ assume. */
  rate: 400,
  routes: ['/checkout', '/browse', '/login'],
} as const;

export interface PlaygroundCliOptions {
  shop: string;
  listen: string;
  admin: string;
  prometheus: string;
  source?: 'prometheus' | 'scrape';
  rate: string;
  route: string[];
  rules?: string[];
  json?: boolean;
}

export function registerPlaygroundCommand(program: Command): void {
  program
    .command('playground')
    .description('the sample shop behind the fault proxy, steady load and Prometheus on the ports examples/ use, until Ctrl-C')
    .option('--shop <host:port>', 'the sample shop (the proxy upstream)', PLAYGROUND_DEFAULTS.shop)
    .option('--listen <host:port>', 'proxied traffic (the load goes here)', PLAYGROUND_DEFAULTS.listen)
    .option('--admin <host:port>', "the proxy's admin API and /metrics (a spec's fault.params.admin)", PLAYGROUND_DEFAULTS.admin)
    .option('--prometheus <host:port>', "Prometheus's web address (a spec's source.url)", PLAYGROUND_DEFAULTS.prometheus)
    .addOption(new Option('--source <kind>', 'a real Prometheus, or the embedded scrape source behind a Prometheus-compatible API (default: prometheus when installed)').choices(['prometheus', 'scrape']))
    .option('--rate <n>', `requests per second, half POST /checkout and half GET /browse (at most ${MAX_RATE})`, String(PLAYGROUND_DEFAULTS.rate))
    .option('--route <pattern...>', "path patterns for the proxy's route label", [...PLAYGROUND_DEFAULTS.routes])
    .option('--rules <file...>', "Prometheus alerting/recording rule files to load (e.g. examples/rules/checkout-burn-rate.yml), for spec.expect.alerts; needs a real Prometheus")
    .option('--json', 'print one JSON line with the addresses and child pids once ready (the guide goes to stderr)')
    .action(async (opts: PlaygroundCliOptions) => {
      process.exitCode = await playgroundCommand(opts);
    });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export async function playgroundCommand(opts: PlaygroundCliOptions): Promise<number> {
  // Loaded here, not at the top: program.ts registers this command for every CLI start.
  const { parseHostPort } = await import('../proxy/command.ts');
  const { MAX_ROUTES, routePatternProblem } = await import('../proxy/routes.ts');
  const issues: InputIssue[] = [];
  const address = (flag: string, value: string): HostPort => {
    const hp = parseHostPort(value);
    if (!hp) issues.push({ path: flag, message: `"${value}" is not HOST:PORT (e.g. 127.0.0.1:9090)` });
    else if (!isLoopback(hp.host)) issues.push({ path: flag, message: `"${value}" is not a loopback address: the playground stays on this machine` });
    return hp ?? { host: '127.0.0.1', port: 0 };
  };
  const shop = address('--shop', opts.shop);
  const listen = address('--listen', opts.listen);
  const admin = address('--admin', opts.admin);
  const prometheus = address('--prometheus', opts.prometheus);
  const rate = Number(opts.rate);
  if (!(Number.isFinite(rate) && rate > 0 && rate <= MAX_RATE)) issues.push({ path: '--rate', message: `"${opts.rate}" is not a number of requests per second in (0, ${MAX_RATE}]` });
  for (const r of opts.route) {
    const problem = routePatternProblem(r);
    if (problem) issues.push({ path: '--route', message: `"${r}" ${problem}` });
  }
  if (opts.route.length > MAX_ROUTES || new Set(opts.route).size !== opts.route.length) {
    issues.push({ path: '--route', message: `at most ${MAX_ROUTES} patterns, each once` });
  }
  const rules: Record<string, string> = {};
  for (const file of opts.rules ?? []) {
    const name = basename(file);
    if (rules[name] !== undefined) issues.push({ path: '--rules', message: `two rule files named ${name}` });
    try {
      rules[name] = await readFile(file, 'utf8');
    } catch (err) {
      issues.push({ path: '--rules', message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` });
    }
  }
  if (opts.rules?.length && opts.source === 'scrape') issues.push({ path: '--rules', message: 'rule files need a real Prometheus (--source prometheus); the scrape source evaluates no rules' });
  if (issues.length > 0) throw new ValidationError(issues);

  // With --json stdout carries the one JSON line only; the guide goes to stderr.
  const guide = (line: string): void => {
    (opts.json ? process.stderr : process.stdout).write(`${line}\n`);
  };
  let stopRequested: ((signal: NodeJS.Signals) => void) | undefined;
  const stopped = new Promise<NodeJS.Signals | 'load-exited'>((resolve) => (stopRequested = resolve));
  const onSignal = (signal: NodeJS.Signals): void => stopRequested?.(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let playground: Playground | undefined;
  try {
    // Loaded here: the proxy, Prometheus and the scrape source are not every command's business.
    const { startPlayground } = await import('../demo/playground.ts');
    playground = await startPlayground({ shop, listen, admin, prometheus, source: opts.source, rate, routes: opts.route, ...(opts.rules?.length ? { rules } : {}), say: (l) => guide(`playground: ${l}`) });
    void playground.loadExited.then(() => stopRequested?.('SIGTERM'));
    if (opts.json) {
      const { shopUrl, listenUrl, adminUrl, source, backend, pids } = playground;
      process.stdout.write(`${JSON.stringify({ shop: shopUrl, listen: listenUrl, admin: adminUrl, source, backend, pid: process.pid, pids, routes: opts.route })}\n`);
    }
    printGuide(guide, playground, opts.route);
    const why = await stopped;
    guide(`\nplayground: ${why} — stopping the load, ${playground.backend === 'prometheus' ? 'Prometheus' : 'the scrape source'}, the proxy (closing any open fault) and the shop`);
    return 0;
  } finally {
    await playground?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function printGuide(say: (line: string) => void, p: Playground, routes: readonly string[]): void {
  const route = routes.includes('/checkout') ? '/checkout' : (routes[0] ?? '/checkout');
  say('');
  say('steadystate playground is up. A spec uses it with:');
  say('');
  say('  spec:');
  say(`    source: { kind: prometheus, url: ${p.source.url}, step: 1s }`);
  say('    fault:');
  say('      injector: http-proxy');
  say(`      params: { admin: "${p.adminUrl}", latencyMs: 300, paths: ["${route}"] }`);
  say('');
  say('Queries ($group is control or experiment; routes: ' + routes.join(', ') + ', other):');
  say('  checkouts/s   sum(rate(shop_checkouts_total{group="$group"}[5s]))');
  say(`  p95 latency   { template: latency-percentile, vars: { path: ${route}, window: 5s } }`);
  say(`                histogram_quantile(0.95, sum by (le) (rate(steadystate_proxy_request_duration_seconds_bucket{group="$group", route="${route}"}[5s])))`);
  say('  error ratio   (sum(rate(steadystate_proxy_requests_total{group="$group",code=~"5.."}[5s])) or vector(0)) / sum(rate(steadystate_proxy_requests_total{group="$group"}[5s]))');
  say('');
  say('Then:  steadystate validate examples/*.yaml');
  say('       steadystate run examples/checkout-latency.yaml');
  say('');
  say(`Traffic: ${p.listenUrl} (x-user-id picks the user, hence the group). Ctrl-C stops everything.`);
}
