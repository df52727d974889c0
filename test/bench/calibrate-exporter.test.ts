/**
 * The calibration bench's synthetic shop and its exporter (bench/calibrate/):
 * the statistics it promises, computed offline from the generator with a
 * driven clock (no timers), and the HTTP endpoints on loopback.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { parseUntil, startExporter, type RunningExporter } from '../../bench/calibrate/exporter.ts';
import { exposition, LATENCY_BUCKETS, SyntheticShop } from '../../bench/calibrate/synthetic-shop.ts';
import { findBinary } from '../../src/lib/binaries.ts';

/** One-second sums of `seconds` × 10 ticks of 100 ms for one experiment: counts and expected counts per group. */
function perSecond(shop: SyntheticShop, exp: string, seconds: number, t0 = 0) {
  const out = { control: [] as number[], experiment: [] as number[], expControl: [] as number[], expExperiment: [] as number[] };
  let t = t0;
  shop.tick(t);
  for (let s = 0; s < seconds; s++) {
    let c = 0, e = 0, mc = 0, me = 0;
    for (let k = 0; k < 10; k++) {
      t += 100;
      const d = shop.tick(t);
      c += d.checkouts[exp]!.control;
      e += d.checkouts[exp]!.experiment;
      mc += d.expected[exp]!.control;
      me += d.expected[exp]!.experiment;
    }
    out.control.push(c);
    out.experiment.push(e);
    out.expControl.push(mc);
    out.expExperiment.push(me);
  }
  return out;
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function correlation(x: number[], y: number[]): number {
  const mx = x.reduce((a, b) => a + b, 0) / x.length;
  const my = y.reduce((a, b) => a + b, 0) / y.length;
  let sxy = 0, sxx = 0, syy = 0;
  x.forEach((xi, i) => {
    sxy += (xi - mx) * (y[i]! - my);
    sxx += (xi - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  });
  return sxy / Math.sqrt(sxx * syy);
}

describe('synthetic shop (offline, driven clock)', () => {
  test('counts per group are overdispersed as designed: variance/mean given the load ≈ 2.5 per 1 s', () => {
    const shop = new SyntheticShop({ experiments: ['e000'], seed: 7, loadSd: 0 });
    const s = perSecond(shop, 'e000', 1_000);
    for (const [counts, expected] of [[s.control, s.expControl], [s.experiment, s.expExperiment]] as const) {
      // Pearson dispersion against the known mean; SE at 1,000 bins ≈ 0.12.
      const dispersion = counts.reduce((a, x, i) => a + (x - expected[i]!) ** 2 / expected[i]!, 0) / counts.length;
      assert.ok(dispersion > 2.2 && dispersion < 2.8, `variance/mean ${dispersion.toFixed(3)} not in (2.2, 2.8)`);
      const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
      assert.ok(Math.abs(mean - 100) < 2, `mean ${mean} per second, expected ≈ 100`);
    }
    // A Poisson shop (dispersion 1) is not overdispersed: the knob does what it says.
    const poisson = perSecond(new SyntheticShop({ experiments: ['e000'], seed: 7, loadSd: 0, dispersion: 1 }), 'e000', 1_000);
    const d1 = poisson.control.reduce((a, x, i) => a + (x - poisson.expControl[i]!) ** 2 / poisson.expControl[i]!, 0) / 1_000;
    assert.ok(d1 > 0.85 && d1 < 1.15, `Poisson dispersion ${d1.toFixed(3)}`);
  });

  test('the load is shared: the two groups move together, and wander about ±20%', () => {
    const shared = perSecond(new SyntheticShop({ experiments: ['e000'], seed: 3, loadSd: 0.1, loadTauSec: 30 }), 'e000', 1_000);
    const independent = perSecond(new SyntheticShop({ experiments: ['e000'], seed: 3, loadSd: 0 }), 'e000', 1_000);
    assert.ok(correlation(shared.control, shared.experiment) > 0.1, 'shared load correlates the groups');
    assert.ok(Math.abs(correlation(independent.control, independent.experiment)) < 0.1, 'without load the groups are independent');
    // Expected counts carry the load: their spread is the load's (log sd 0.1).
    const logs = shared.expControl.map((m) => Math.log(m / 100));
    const sd = Math.sqrt(logs.reduce((a, x) => a + x * x, 0) / logs.length);
    assert.ok(sd > 0.05 && sd < 0.16, `log-load sd ${sd.toFixed(3)}`);
  });

  test('latency histogram: median ≈ 50 ms, buckets 5 ms..2 s, requests ≈ 10× checkouts', () => {
    const shop = new SyntheticShop({ experiments: ['e000'], seed: 11, loadSd: 0 });
    perSecond(shop, 'e000', 60);
    const c = shop.counters('e000', 'control');
    assert.equal(c.buckets.length, LATENCY_BUCKETS.length + 1);
    assert.equal(c.buckets.reduce((a, b) => a + b, 0), c.latencyCount);
    const at50 = c.buckets.slice(0, LATENCY_BUCKETS.indexOf(0.05) + 1).reduce((a, b) => a + b, 0) / c.latencyCount;
    assert.ok(Math.abs(at50 - 0.5) < 0.03, `share under 50 ms ${at50}`);
    const requests = c.requests['200'] + c.requests['404'] + c.requests['500'];
    assert.ok(Math.abs(requests / c.checkouts - 10) < 0.5, `requests/checkouts ${requests / c.checkouts}`);
    assert.ok(c.requests['500'] / requests < 0.005, 'errors stay far below the 2% guardrail');
  });
});

describe('calibration exporter (loopback HTTP)', () => {
  let clock = 1_000_000;
  const shop = new SyntheticShop({ experiments: ['e000', 'e001'], seed: 5 });
  let exporter: RunningExporter;
  before(async () => {
    exporter = await startExporter({ shop, autoTick: false, now: () => clock });
  });
  after(async () => {
    await exporter.stop();
  });

  /** Advance the driven clock by `seconds` in 100 ms ticks; checkouts per exp and group over that time. */
  const advance = (seconds: number): Record<string, { control: number; experiment: number }> => {
    const sum: Record<string, { control: number; experiment: number }> = { e000: { control: 0, experiment: 0 }, e001: { control: 0, experiment: 0 } };
    shop.tick(clock);
    for (let i = 0; i < seconds * 10; i++) {
      clock += 100;
      const d = shop.tick(clock);
      for (const exp of ['e000', 'e001']) {
        sum[exp]!.control += d.checkouts[exp]!.control;
        sum[exp]!.experiment += d.checkouts[exp]!.experiment;
      }
    }
    return sum;
  };

  test('/metrics is valid Prometheus text with every experiment and group', async () => {
    advance(5);
    const res = await fetch(`${exporter.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const sample = /^([a-z_]+)\{([^}]*)\} (-?[0-9.e+]+)$/;
    for (const line of text.trim().split('\n')) {
      if (line.startsWith('#')) assert.match(line, /^# (HELP|TYPE) [a-z_]+ .+$/);
      else assert.match(line, sample, line);
    }
    for (const exp of ['e000', 'e001']) {
      for (const group of ['control', 'experiment']) {
        const value = (name: string, extra = ''): number => {
          const m = new RegExp(`^${escape(`${name}{exp="${exp}",group="${group}"${extra}}`)} (\\S+)$`, 'm').exec(text);
          assert.ok(m, `${name} for ${exp}/${group}${extra}`);
          return Number(m[1]);
        };
        assert.ok(value('shop_checkouts_total') > 0);
        const buckets = [...LATENCY_BUCKETS.map(String), '+Inf'].map((le) => value('http_request_duration_seconds_bucket', `,le="${le}"`));
        buckets.forEach((b, i) => assert.ok(i === 0 || b >= buckets[i - 1]!, 'buckets are cumulative'));
        assert.equal(buckets[buckets.length - 1], value('http_request_duration_seconds_count'));
      }
    }
    // Where Prometheus's own linter is installed, it must accept the exposition too.
    const promtool = findBinary('promtool', '/usr/bin/promtool');
    if (promtool) {
      const check = spawnSync(promtool, ['check', 'metrics'], { input: exposition(shop), encoding: 'utf8', timeout: 5_000 });
      assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
    }
  });

  test('a fault applies to its experiment group only, and expires at `until`', async () => {
    const res = await fetch(`${exporter.url}/fault`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ exp: 'e001', rateFactor: 0, until: new Date(clock + 3_000).toISOString() }),
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { active: boolean }).active, true);
    const during = advance(3);
    assert.equal(during.e001!.experiment, 0, 'the faulty group gets nothing');
    assert.ok(during.e001!.control > 150, 'its control group is untouched');
    assert.ok(during.e000!.experiment > 150, 'other experiments are untouched');
    assert.equal(((await (await fetch(`${exporter.url}/fault/e001`)).json()) as { active: boolean }).active, false, 'expired at until');
    const afterwards = advance(3);
    assert.ok(afterwards.e001!.experiment > 150, 'the rate is back after until');
  });

  test('DELETE ends a fault early; bad requests are refused', async () => {
    const post = (body: unknown) => fetch(`${exporter.url}/fault`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await post({ exp: 'e000', rateFactor: 0.5, until: clock + 60_000 })).status, 200);
    assert.equal(((await (await fetch(`${exporter.url}/fault/e000`)).json()) as { rateFactor: number }).rateFactor, 0.5);
    const del = await fetch(`${exporter.url}/fault/e000`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal(((await del.json()) as { cleared: boolean }).cleared, true);
    const half = advance(2);
    assert.ok(half.e000!.experiment > 100, 'no drop after DELETE');
    assert.equal((await fetch(`${exporter.url}/fault/e000`, { method: 'DELETE' })).status, 200, 'closing twice is fine');
    assert.equal((await post({ exp: 'e999', rateFactor: 0.5, until: clock + 1 })).status, 400);
    assert.equal((await post({ exp: 'e000', rateFactor: -1, until: clock + 1 })).status, 400);
    assert.equal((await post({ exp: 'e000', rateFactor: 0.5 })).status, 400);
    assert.equal((await fetch(`${exporter.url}/fault/e999`, { method: 'DELETE' })).status, 404);
    assert.deepEqual(
      exporter.calls.map((c) => `${c.method} ${c.exp}`),
      ['POST e001', 'POST e000', 'DELETE e000', 'DELETE e000'],
    );
  });

  test('until as the webhook renders it: ISO date, Unix seconds, epoch ms', () => {
    assert.equal(parseUntil('2026-01-01T00:00:00.000Z'), Date.parse('2026-01-01T00:00:00.000Z'));
    assert.equal(parseUntil('1767225600'), 1_767_225_600_000);
    assert.equal(parseUntil(1_767_225_600_000), 1_767_225_600_000);
    assert.equal(parseUntil('soon'), undefined);
    assert.equal(parseUntil(undefined), undefined);
  });
});
