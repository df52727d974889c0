/**
 * npm run bench:proxy [-- --rounds 3 --duration 5 --connections 20 --quick]
 *
 * `--duration` is in one-second slices per target, taken in rotation.
 *
 * Direct vs a minimal pass-through Node proxy vs `steadystate proxy` at 1 and
 * 2 workers, side by side in each round against one trivial upstream, all on
 * loopback, every process a child of its own (the bench is the load
 * generator). Per round it prints throughput, the ratio to the minimal proxy,
 * CPU per request (from /proc: steadier than throughput on a shared machine),
 * and the latency each proxy adds to direct at p50/p99; then a rate-limited
 * run at half the minimal proxy's capacity, where the added p50 is what a
 * user of a proxy that is not saturated pays. Not a test: it asserts nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Child, cpuSeconds, startMinimalProxy, startOurProxy, startUpstream } from './children.ts';
import { type LoadResult, runLoad } from './load.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '20' },
    users: { type: 'string', default: '1000' },
    quick: { type: 'boolean', default: false },
  },
});
const rounds = values.quick ? 1 : Math.min(20, Math.max(1, Number(values.rounds)));
const durationS = values.quick ? 2 : Math.min(60, Math.max(1, Number(values.duration)));
const connections = Math.min(500, Math.max(1, Number(values.connections)));
const users = Math.max(1, Number(values.users));

interface Measured extends LoadResult {
  cpuUsPerRequest?: number | undefined;
}

const lines: string[] = [];
const say = (line = ''): void => {
  lines.push(line);
  process.stdout.write(`${line}\n`);
};
const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');
const signed = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(2)}` : '–');

/**
 * Measures `targets` side by side: one-second slices in rotation, `durationS` slices each, so that a
 * neighbour's burst on a shared machine lands on all of them rather than on whichever ran then.
 */
async function measureSideBySide(targets: Child[], rate?: number): Promise<Measured[]> {
  const acc = targets.map(() => ({ requests: 0, errors: 0, non2xx: 0, cpu: 0, cpuKnown: true, p50: [] as number[], p99: [] as number[] }));
  for (let slice = 0; slice < durationS; slice++) {
    for (const [i, target] of targets.entries()) {
      const a = acc[i] as (typeof acc)[number];
      const pid = target.proc.pid as number;
      const cpu0 = cpuSeconds(pid);
      const r = await runLoad({ url: target.url, connections, durationS: 1, rate, users });
      const cpu1 = cpuSeconds(pid);
      a.requests += r.requests;
      a.errors += r.errors;
      a.non2xx += r.non2xx;
      if (cpu0 === undefined || cpu1 === undefined) a.cpuKnown = false;
      else a.cpu += cpu1 - cpu0;
      a.p50.push(r.p50);
      a.p99.push(r.p99);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
  return acc.map((a) => ({
    requests: a.requests,
    rps: a.requests / durationS,
    // The median slice's percentile: one disturbed slice does not move it.
    p50: median(a.p50),
    p99: median(a.p99),
    errors: a.errors,
    non2xx: a.non2xx,
    cpuUsPerRequest: a.cpuKnown && a.requests > 0 ? (a.cpu * 1e6) / a.requests : undefined,
  }));
}

function row(name: string, m: Measured, direct: Measured, minimal: Measured | undefined): string {
  const ratio = minimal ? f2(m.rps / minimal.rps) : '–';
  const cpu = m.cpuUsPerRequest === undefined ? '–' : f1(m.cpuUsPerRequest);
  const added = name === 'direct' ? '' : ` | ${signed(m.p50 - direct.p50)} | ${signed(m.p99 - direct.p99)}`;
  return `| ${name} | ${Math.round(m.rps)} | ${ratio} | ${cpu} | ${f2(m.p50)} | ${f2(m.p99)}${added || ' | | '} | ${m.errors + m.non2xx} |`;
}

const HEADER = '| target | req/s | × minimal | CPU µs/req | p50 ms | p99 ms | p50 added | p99 added | errors+non-2xx |';
const RULE = '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';

const children: Child[] = [];
const stopAll = async (): Promise<void> => {
  await Promise.allSettled(children.map((c) => c.stop()));
};
process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));

try {
  const upstream = await startUpstream();
  children.push(upstream);
  const minimal = await startMinimalProxy(upstream.url);
  children.push(minimal);
  const ours1 = await startOurProxy(upstream.url, 1);
  children.push(ours1);
  const ours2 = await startOurProxy(upstream.url, 2);
  children.push(ours2);
  const direct: Child = { ...upstream, name: 'direct' };

  say(`# bench:proxy — ${rounds} round(s) of ${durationS} s, ${connections} connections, ${users} users, node ${process.version}`);
  say();
  const ratios1: number[] = [];
  const ratios2: number[] = [];
  const added50: number[] = [];
  const minimalAdded50: number[] = [];
  const cpuRatios: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    // Warm-up: JIT and keep-alive pools, not measured.
    if (round === 1) for (const t of [direct, minimal, ours1, ours2]) await runLoad({ url: t.url, connections, durationS: 2, users });
    const [d, m, o1, o2] = (await measureSideBySide([direct, minimal, ours1, ours2])) as [Measured, Measured, Measured, Measured];
    ratios1.push(o1.rps / m.rps);
    if (o1.cpuUsPerRequest !== undefined && m.cpuUsPerRequest !== undefined) cpuRatios.push(o1.cpuUsPerRequest / m.cpuUsPerRequest);
    ratios2.push(o2.rps / m.rps);
    say(`## Round ${round}: unlimited`);
    say();
    say(HEADER);
    say(RULE);
    say(row('direct', d, d, undefined));
    say(row('minimal node proxy', m, d, m));
    say(row('steadystate proxy, 1 worker', o1, d, m));
    say(row('steadystate proxy, 2 workers', o2, d, m));
    say();

    // Half of what the minimal proxy managed in this round: nobody saturated, so the added p50 is the proxy's own cost.
    const rate = Math.max(100, Math.round(m.rps / 2));
    const [dr, mr, or] = (await measureSideBySide([direct, minimal, ours1], rate)) as [Measured, Measured, Measured];
    minimalAdded50.push(mr.p50 - dr.p50);
    added50.push(or.p50 - dr.p50);
    say(`## Round ${round}: rate-limited to ${rate} req/s (half the minimal proxy's capacity)`);
    say();
    say(HEADER);
    say(RULE);
    say(row('direct', dr, dr, undefined));
    say(row('minimal node proxy', mr, dr, mr));
    say(row('steadystate proxy, 1 worker', or, dr, mr));
    say();
  }
  const range = (xs: number[], fmt: (x: number) => string): string => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
  say('## Summary');
  say();
  say(`- steadystate proxy ÷ minimal node proxy, 1 worker: ${range(ratios1, f2)}× (per round: ${ratios1.map(f2).join(', ')})`);
  say(`- steadystate proxy ÷ minimal node proxy, 2 workers: ${range(ratios2, f2)}× (on 2 cores the load generator and upstream share them: reported, not required)`);
  if (cpuRatios.length > 0) say(`- CPU per request, steadystate proxy (1 worker) ÷ minimal node proxy: ${range(cpuRatios, f2)}× (below 1: cheaper)`);
  say(`- p50 added at half the minimal proxy's capacity, 1 worker: ${range(added50, f2)} ms (target ≤ 0.5 ms); the minimal proxy's: ${range(minimalAdded50, f2)} ms`);
  mkdirSync('reports/bench', { recursive: true });
  writeFileSync('reports/bench/proxy.md', `${lines.join('\n')}\n`);
  say();
  say('written to reports/bench/proxy.md');
} finally {
  await stopAll();
}
