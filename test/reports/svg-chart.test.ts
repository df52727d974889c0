/**
 * The server-side SVG chart: escaping, degenerate data (empty, one point,
 * constants, NaN, gaps), no NaN in any coordinate, and marks where the
 * numbers say they belong.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml } from '../../src/reports/escape.ts';
import { decimate, segmentsOf } from '../../src/reports/html/chart-data.ts';
import { MAX_POINTS_PER_LINE, renderTimeChart, type TimeChartInput } from '../../src/reports/html/svg-chart.ts';
import { assertSafeMarkup } from './markup.ts';

const HOSTILE = `<script>alert(1)</script>"'&<img src=x onerror=alert(2)>`;

function chart(overrides: Partial<TimeChartInput> = {}): string {
  return renderTimeChart({
    id: 't',
    title: 'title',
    desc: 'desc',
    yLabel: 'value',
    origin: 0,
    originLabel: 'the fault window opened',
    lines: [
      { key: 'control', label: 'control', color: '#0072B2', samples: ramp(0, 100_000, 1_000, (i) => 10 + (i % 3)) },
      { key: 'experiment', label: 'experiment', color: '#D55E00', samples: ramp(0, 100_000, 1_000, (i) => 8 + (i % 4)) },
    ],
    xDomain: [0, 100_000],
    ...overrides,
  });
}

function ramp(from: number, to: number, step: number, v: (i: number) => number): { t: number; v: number }[] {
  const out = [];
  for (let t = from, i = 0; t <= to; t += step, i++) out.push({ t, v: v(i) });
  return out;
}

function attr(svg: string, selectorClass: string, name: string): string[] {
  const re = new RegExp(`<[a-z]+ [^>]*class="[^"]*\\b${selectorClass}\\b[^"]*"[^>]*>`, 'g');
  return Array.from(svg.matchAll(re), (m) => new RegExp(`\\b${name}="([^"]*)"`).exec(m[0])?.[1] ?? '');
}

function pathPoints(d: string): number {
  return (d.match(/[ML]/g) ?? []).length;
}

describe('svg chart', () => {
  it('draws a path per group with every point, a shaded window, rules and the halt marker', () => {
    const svg = chart({
      spans: [
        { from: 0, to: 40_000, kind: 'window', label: 'fault window' },
        { from: 40_000, to: 100_000, kind: 'planned', label: 'planned, not reached' },
      ],
      rules: [
        { y: 11, kind: 'median', label: 'control median 11' },
        { y: 9.5, kind: 'limit', label: 'tolerance limit −5% (9.5)' },
      ],
      markers: [{ t: 40_000, kind: 'halt', label: 'halt +40 s' }],
    });
    const [control] = attr(svg, 'series-control', 'd');
    const [experiment] = attr(svg, 'series-experiment', 'd');
    assert.equal(pathPoints(control ?? ''), 101);
    assert.equal(pathPoints(experiment ?? ''), 101);
    assert.deepEqual(attr(svg, 'series-control', 'data-points'), ['101']);
    assert.equal(attr(svg, 'fault-window', 'x').length, 1);
    assert.equal(attr(svg, 'planned-window', 'x').length, 1);
    assert.equal(attr(svg, 'rule-median', 'y1').length, 1);
    assert.equal(attr(svg, 'rule-limit', 'y1').length, 1);
    assert.equal(attr(svg, 'halt-marker', 'data-x').length, 1);
    // The legend names both groups and carries the rules' values.
    assert.match(svg, />control</);
    assert.match(svg, />experiment</);
    assert.match(svg, /tolerance limit −5% \(9\.5\)/);
    assert.match(svg, /<title id="c-t-title">title<\/title><desc id="c-t-desc">desc<\/desc>/);
    assert.match(svg, /role="img" aria-labelledby="c-t-title c-t-desc"/);
  });

  it('puts the halt marker and the window where their times are on the shared x axis', () => {
    // 760 wide, plot from x=70 to x=740: 670 px for 100 s.
    const svg = chart({
      spans: [{ from: 10_000, to: 60_000, kind: 'window', label: 'fault window' }],
      markers: [{ t: 40_000, kind: 'halt', label: 'halt' }],
    });
    assert.deepEqual(attr(svg, 'halt-marker', 'data-x'), ['338']);
    assert.deepEqual(attr(svg, 'fault-window', 'x'), ['137']);
    assert.deepEqual(attr(svg, 'fault-window', 'width'), ['335']);
    // The marker's line is drawn at that x too.
    assert.match(svg, /<line x1="338" x2="338"/);
  });

  it('clamps a halt outside the x range to the plot edge instead of drawing outside it', () => {
    const svg = chart({ markers: [{ t: 500_000, kind: 'halt', label: 'halt' }] });
    assert.deepEqual(attr(svg, 'halt-marker', 'data-x'), ['740']);
  });

  it('escapes every label: title, desc, axis, legend, rules, spans, markers', () => {
    const svg = chart({
      title: HOSTILE,
      desc: HOSTILE,
      yLabel: HOSTILE,
      id: HOSTILE,
      lines: [{ key: HOSTILE, label: HOSTILE, color: '#000000', samples: ramp(0, 10_000, 1_000, (i) => i) }],
      spans: [{ from: 0, to: 100_000, kind: 'window', label: HOSTILE }],
      rules: [{ y: 3, kind: 'threshold', label: HOSTILE }],
      markers: [{ t: 5_000, kind: 'halt', label: HOSTILE }],
    });
    assert.ok(!svg.includes('<script'), 'no script element');
    assert.ok(!svg.includes('<img'), 'no img element');
    assert.ok(svg.includes(escapeHtml(HOSTILE).slice(0, 40)));
    assertSafeMarkup(svg);
  });

  it('an empty chart says so, draws no line, and has no NaN', () => {
    const svg = chart({ lines: [{ key: 'control', label: 'control', color: '#000', samples: [] }], xDomain: undefined });
    assert.match(svg, /class="empty"[^>]*>no samples were collected</);
    assert.equal(attr(svg, 'series', 'd').length, 0);
    assert.ok(!/NaN|Infinity/.test(svg));
  });

  it('a single point is drawn as a dot, not an invisible one-point path', () => {
    const svg = chart({ lines: [{ key: 'experiment', label: 'experiment', color: '#000', samples: [{ t: 5_000, v: 3 }] }], xDomain: undefined });
    assert.equal(attr(svg, 'series-experiment', 'd').filter(Boolean).length, 0);
    assert.equal(attr(svg, 'series-point', 'cx').length, 1);
    assert.ok(!/NaN|Infinity/.test(svg));
  });

  it('never writes NaN: constant values, zero-width time ranges, NaN and Infinity samples, a non-finite rule', () => {
    const cases: Partial<TimeChartInput>[] = [
      { lines: [{ key: 'a', label: 'a', color: '#000', samples: [{ t: 1, v: 5 }, { t: 1, v: 5 }] }], xDomain: undefined },
      { lines: [{ key: 'a', label: 'a', color: '#000', samples: [{ t: 0, v: 0 }, { t: 1000, v: 0 }] }] },
      { lines: [{ key: 'a', label: 'a', color: '#000', samples: [{ t: 0, v: NaN }, { t: 1000, v: Infinity }, { t: 2000, v: -Infinity }, { t: 3000, v: 1 }] }] },
      { rules: [{ y: NaN, kind: 'limit', label: 'x' }], markers: [{ t: NaN, kind: 'halt', label: 'h' }] },
      { xDomain: [5, 5] },
      { lines: [{ key: 'a', label: 'a', color: '#000', samples: [{ t: 0, v: 1e300 }, { t: 1000, v: -1e300 }] }] },
      { lines: [{ key: 'a', label: 'a', color: '#000', samples: [{ t: 0, v: 1e-12 }, { t: 1000, v: 2e-12 }] }] },
    ];
    for (const c of cases) {
      const svg = chart(c);
      assert.ok(!/NaN|Infinity/.test(svg), `NaN in ${JSON.stringify(c)}`);
    }
  });

  it('breaks the line at NaN and at long gaps rather than bridging missing data', () => {
    const samples = [...ramp(0, 9_000, 1_000, () => 1), { t: 10_000, v: NaN }, ...ramp(11_000, 20_000, 1_000, () => 2), ...ramp(60_000, 70_000, 1_000, () => 3)];
    assert.equal(segmentsOf(samples).length, 3);
    const svg = chart({ lines: [{ key: 'control', label: 'control', color: '#000', samples }] });
    const [d] = attr(svg, 'series-control', 'd');
    assert.equal((d?.match(/M/g) ?? []).length, 3);
  });

  it('y axis of non-negative data does not go below zero', () => {
    const svg = chart({ lines: [{ key: 'a', label: 'a', color: '#000', samples: [{ t: 0, v: 0 }, { t: 1000, v: 0.01 }, { t: 2000, v: 0.002 }] }] });
    const yTicks = Array.from(svg.matchAll(/<text class="y-tick"[^>]*>([^<]*)<\/text>/g), (m) => m[1] ?? '');
    assert.ok(yTicks.length >= 3, `y ticks: ${yTicks.join(' ')}`);
    assert.deepEqual(yTicks.filter((t) => /^[-−]/.test(t)), [], 'no negative y tick');
    assert.match(yTicks[0] ?? '', /^0(\.0+)?$/);
    // Labels alike: one number of decimals for the whole axis.
    assert.equal(new Set(yTicks.map((t) => (t.split('.')[1] ?? '').length)).size, 1, yTicks.join(' '));
  });

  it('marks each point of a sparse line, and none of a dense one', () => {
    const sparse = chart({ lines: [{ key: 'control', label: 'control', color: '#000', samples: ramp(0, 9_000, 1_000, (i) => i) }] });
    assert.equal(attr(sparse, 'series-dot', 'cx').length, 10);
    assert.equal(attr(chart(), 'series-dot', 'cx').length, 0);
  });

  it('labels the time axis in seconds, minutes or hours after its span', () => {
    assert.match(chart({ xDomain: [0, 120_000] }), />seconds since the fault window opened</);
    assert.match(chart({ xDomain: [0, 30 * 60_000] }), />minutes since the fault window opened</);
    assert.match(chart({ xDomain: [0, 10 * 3_600_000] }), />hours since the fault window opened</);
    // Time before the origin (a baseline) reads as negative offsets.
    assert.match(chart({ xDomain: [-30_000, 100_000] }), />−20</);
  });

  it('thins very long series to screen resolution but keeps the spikes', () => {
    const samples = ramp(0, 199_999_000, 1_000, (i) => (i === 123_457 ? 1_000 : i % 10));
    const thinned = decimate(samples, 1_340, MAX_POINTS_PER_LINE);
    assert.ok(thinned.length <= MAX_POINTS_PER_LINE + 4, `${thinned.length} points`);
    assert.ok(thinned.some((p) => p.v === 1_000), 'the spike survives');
    for (let i = 1; i < thinned.length; i++) assert.ok((thinned[i]?.t ?? 0) > (thinned[i - 1]?.t ?? 0), 'time order kept');
    const svg = chart({ lines: [{ key: 'control', label: 'control', color: '#000', samples }], xDomain: undefined });
    const [points] = attr(svg, 'series-control', 'data-points');
    assert.ok(Number(points) <= MAX_POINTS_PER_LINE + 4);
    assert.ok(svg.length < 200_000, `svg is ${svg.length} bytes`);
  });
});
