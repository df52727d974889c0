/**
 * The pure parts of the Slack messages: escaping, cutting to a limit without
 * breaking an entity or a surrogate pair (property-based), number formatting,
 * and the limit checker itself (so the contract tests lean on a checker that
 * does catch violations).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { blockKitViolations, escapeSlack, fitText, formatNumber, startMessage, verdictMessage, type RunView, type SlackMessage } from '../../src/notifiers/slack-blocks.ts';
import { judgeMetric } from '../../src/stats/verdict.ts';

describe('escapeSlack and fit', () => {
  it('escapes exactly &, < and >', () => {
    assert.equal(escapeSlack('a & b < c > d "e" \'f\''), 'a &amp; b &lt; c &gt; d "e" \'f\'');
    assert.equal(escapeSlack('<!channel>'), '&lt;!channel&gt;');
  });

  it('fit: within the limit, a prefix of the input plus "…", never a cut entity or a lone surrogate', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', '&', '<', '>', ' ', 'é', '😀'), maxLength: 300 }), fc.integer({ min: 8, max: 200 }), (raw, max) => {
        const escaped = escapeSlack(raw);
        const out = fitText(escaped, max);
        assert.ok(out.length <= max, `${out.length} > ${max}`);
        if (escaped.length <= max) {
          assert.equal(out, escaped);
          return;
        }
        assert.ok(out.endsWith('…'));
        const kept = out.slice(0, -1);
        assert.ok(escaped.startsWith(kept));
        // Every & still starts a whole entity.
        assert.ok(!/&(?!amp;|lt;|gt;)/.test(kept), kept);
        const last = kept.charCodeAt(kept.length - 1);
        assert.ok(!(last >= 0xd800 && last <= 0xdbff), 'a lone high surrogate');
      }),
      { numRuns: 500 },
    );
  });
});

describe('formatNumber', () => {
  it('three significant digits, exponent only for extreme magnitudes, a dash for no number', () => {
    assert.equal(formatNumber(123.456), '123');
    assert.equal(formatNumber(0.012345), '0.0123');
    assert.equal(formatNumber(-2.5), '-2.5');
    assert.equal(formatNumber(0), '0');
    assert.equal(formatNumber(12_345_678), '1.23e+7');
    assert.equal(formatNumber(0.00001234), '1.23e-5');
    assert.equal(formatNumber(null), '—');
    assert.equal(formatNumber(Number.NaN), '—');
  });
});

describe('blockKitViolations', () => {
  it('names every broken limit', () => {
    const message: SlackMessage = {
      text: 't',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } },
        { type: 'section', text: { type: 'mrkdwn', text: 's'.repeat(3001) }, fields: Array.from({ length: 11 }, () => ({ type: 'mrkdwn' as const, text: 'f'.repeat(2001) })) },
        { type: 'context', elements: Array.from({ length: 11 }, () => ({ type: 'mrkdwn' as const, text: 'c' })) },
        ...Array.from({ length: 48 }, () => ({ type: 'divider' as const })),
      ],
    };
    const problems = blockKitViolations(message).join('\n');
    for (const expected of ['51 blocks > 50', 'header 151 > 150', 'section text 3001 > 3000', '11 fields > 10', 'fields[0] 2001 > 2000', '11 context elements > 10']) {
      assert.ok(problems.includes(expected), `missing "${expected}" in:\n${problems}`);
    }
    assert.deepEqual(blockKitViolations({ text: 'ok', blocks: [{ type: 'divider' }] }), []);
  });
});

describe('numbers in the metric\'s unit', () => {
  const latency = (): RunView['metrics'][number] => {
    // A p95 near zero in control (5.6 ms) that rises to ~460 ms: a percentage would read "+8000%".
    const control = Array.from({ length: 40 }, (_, i) => 0.0056 + ((i * 7) % 5) * 0.0001);
    const experiment = control.map((v, i) => 0.46 + ((i * 3) % 7) * 0.001 + v * 0);
    return judgeMetric({ name: 'p95-latency', control, experiment, direction: 'increase', tolerance: { kind: 'absolute', value: 0.05 }, alpha: 0.05, minSamples: 10 });
  };
  const view = (over: Partial<RunView> = {}): RunView => ({
    id: 'run-1',
    experiment: 'checkout-latency',
    state: 'failed',
    verdict: 'fail',
    reason: 'p95-latency failed',
    startedAt: '2026-03-03T09:30:00.000Z',
    endedAt: '2026-03-03T09:33:00.000Z',
    fault: { injector: 'http-proxy', durationMs: 60_000, params: { latencyMs: 450 } },
    metrics: [latency()],
    ...over,
  });

  it('a latency in seconds reads in ms; near a zero base the values, not a percentage; the tolerance with its unit', () => {
    const blocks = verdictMessage(view({ metricUnits: { 'p95-latency': { kind: 'time', scale: 1 } } })).blocks;
    const text = JSON.stringify(blocks);
    const fields = blocks.flatMap((b) => (b.type === 'section' ? (b.fields ?? []) : [])).map((f) => f.text);
    assert.match(text, /median 5\.\d ms · mean 5\.\d ms · n=40/);
    assert.match(text, /\*Effect \(experiment − control\)\*\\n5\.\d ms → 46\d ms \(\+45\d ms\)/);
    assert.match(text, /\*Allowed\*\\n±0\.05 s = ±50 ms/);
    assert.ok(fields.every((f) => !/\d{4,}%/.test(f)), `no four-digit percentage in the fields: ${fields.join(' | ')}`);
  });

  it('without a unit: plain numbers, as before', () => {
    const text = JSON.stringify(verdictMessage(view()).blocks);
    assert.match(text, /median 0\.00\d+ · mean/);
  });

  it('an A/A run says no fault is injected', () => {
    const aa = JSON.stringify(startMessage(view({ fault: { injector: 'http-proxy', durationMs: 30_000, params: { noFault: true } } })).blocks);
    assert.match(aa, /\*no fault\* is injected/);
    assert.doesNotMatch(aa, /A fault will be injected/);
    assert.match(JSON.stringify(startMessage(view()).blocks), /A fault will be injected into the \*experiment\* group only/);
  });
});
