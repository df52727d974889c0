/**
 * The pure parts of the Slack messages: escaping, cutting to a limit without
 * breaking an entity or a surrogate pair (property-based), number formatting,
 * and the limit checker itself (so the contract tests lean on a checker that
 * does catch violations).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { blockKitViolations, escapeSlack, fitText, formatNumber, type SlackMessage } from '../../src/notifiers/slack-blocks.ts';

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
