/**
 * The text exposition format 0.0.4 parser, on prom-client's real output and
 * on hand-written edge cases.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ExpositionError, parseExposition, parseGoFloat } from '../../src/metric-sources/scrape/exposition.ts';

describe('parseExposition', () => {
  test("prom-client's counters, gauges and histograms", async () => {
    const registry = new Registry();
    const c = new Counter({ name: 'shop_checkouts_total', help: 'Checkouts.', labelNames: ['group'], registers: [registry] });
    const g = new Gauge({ name: 'ratio', help: 'A "ratio"\nwith a newline in help.', labelNames: ['group'], registers: [registry] });
    const h = new Histogram({ name: 'lat_seconds', help: 'Latency.', labelNames: ['group'], buckets: [0.1, 1], registers: [registry] });
    c.inc({ group: 'control' }, 3);
    g.set({ group: 'nan' }, Number.NaN);
    g.set({ group: 'inf' }, Number.POSITIVE_INFINITY);
    g.set({ group: 'ninf' }, Number.NEGATIVE_INFINITY);
    h.observe({ group: 'a"b\\c\nd' }, 0.5);
    const samples = parseExposition(await registry.metrics());
    const find = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels));
    assert.equal(find('shop_checkouts_total', { group: 'control' })?.value, 3);
    assert.ok(Number.isNaN(find('ratio', { group: 'nan' })?.value));
    assert.equal(find('ratio', { group: 'inf' })?.value, Number.POSITIVE_INFINITY);
    assert.equal(find('ratio', { group: 'ninf' })?.value, Number.NEGATIVE_INFINITY);
    // Histogram series, with label escapes undone and le kept as written.
    const group = 'a"b\\c\nd';
    assert.equal(find('lat_seconds_bucket', { le: '0.1', group })?.value, 0);
    assert.equal(find('lat_seconds_bucket', { le: '1', group })?.value, 1);
    assert.equal(find('lat_seconds_bucket', { le: '+Inf', group })?.value, 1);
    assert.equal(find('lat_seconds_sum', { group })?.value, 0.5);
    assert.equal(find('lat_seconds_count', { group })?.value, 1);
  });

  test('timestamps, blanks, trailing commas, comments and CRLF', () => {
    const body = [
      '# a free comment',
      '# TYPE x counter',
      'x{a="1",} 2 1700000000123',
      '  y   7  ',
      'z{ a = "v" , b="w" } -1.5e3\r',
      '',
      'w{} 1',
    ].join('\n');
    assert.deepEqual(parseExposition(body), [
      { name: 'x', labels: { a: '1' }, value: 2, timestampMs: 1700000000123 },
      { name: 'y', labels: {}, value: 7 },
      { name: 'z', labels: { a: 'v', b: 'w' }, value: -1500 },
      { name: 'w', labels: {}, value: 1 },
    ]);
  });

  test('a malformed line fails the whole body, naming the line', () => {
    const bad: [string, RegExp][] = [
      ['ok 1\nx{a="1" 2', /line 2: expected "," or "}"/],
      ['x{a="1"} two', /line 1: value "two" is not a number/],
      ['x{a="1",a="2"} 1', /duplicate label a/],
      ['x{a="unterminated} 1', /unterminated value of label a/],
      ['x 1 1.5', /timestamp "1.5" is not an integer/],
      ['x 1 2 3', /expected a value and an optional timestamp/],
      ['# TYPE x bogus', /invalid TYPE line/],
      ['1x 2', /expected a metric name/],
      ['x{1a="b"} 2', /expected a label name/],
      ['x', /expected a blank before the value/],
    ];
    for (const [body, re] of bad) {
      assert.throws(() => parseExposition(body), (e: unknown) => e instanceof ExpositionError && re.test(e.message), body);
    }
  });

  test('numbers as Go ParseFloat reads them', () => {
    assert.equal(parseGoFloat('1e3'), 1000);
    assert.equal(parseGoFloat('.5'), 0.5);
    assert.equal(parseGoFloat('+Inf'), Number.POSITIVE_INFINITY);
    assert.equal(parseGoFloat('-inf'), Number.NEGATIVE_INFINITY);
    assert.ok(Number.isNaN(parseGoFloat('NaN')));
    assert.equal(parseGoFloat(''), undefined);
    assert.equal(parseGoFloat('0x10'), undefined);
    assert.equal(parseGoFloat('1,5'), undefined);
  });
});
