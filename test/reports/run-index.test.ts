/**
 * The run index page renderer: runs still going, the empty list, the paging
 * link, and escaping of every field a user controls.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderRunIndex, type RunIndexRow } from '../../src/reports/html/run-index.ts';
import { assertSafeMarkup } from './markup.ts';

const NOW = new Date('2026-03-14T10:00:00Z');

function row(over: Partial<RunIndexRow> = {}): RunIndexRow {
  return {
    id: 'r1',
    experiment: 'checkout-latency',
    version: 2,
    state: 'failed',
    verdict: 'fail',
    reason: '1 of 2 metrics failed',
    startedAt: '2026-03-14T09:50:00Z',
    endedAt: '2026-03-14T09:52:05Z',
    actor: 'ada',
    ...over,
  };
}

describe('run index page', () => {
  it('shows state, verdict, experiment, start, duration and report links', () => {
    const html = renderRunIndex([row()], { now: NOW, limit: 50 });
    assert.match(html, /class="pill tone-bad">failed</);
    assert.match(html, /<a href="\/runs\/r1"><strong>checkout-latency<\/strong><\/a> <span class="note">v2<\/span>/);
    assert.match(html, /2026-03-14 09:50:00/);
    assert.match(html, />2 min 5 s</);
    assert.match(html, /href="\/api\/v1\/runs\/r1\/report\.html">HTML</);
    assertSafeMarkup(html, { liveScript: true });
  });

  it('a run still going shows its state, no verdict, and how long so far', () => {
    const html = renderRunIndex([row({ state: 'injecting', verdict: null, endedAt: null })], { now: NOW, limit: 50 });
    assert.match(html, /class="pill tone-active">injecting</);
    assert.match(html, />10 min so far</);
  });

  it('an empty list says how to start a run', () => {
    const html = renderRunIndex([], { now: NOW, limit: 50 });
    assert.match(html, /No runs yet/);
    assert.ok(!html.includes('<table'));
  });

  it('escapes names, reasons and ids, and encodes ids in links and the paging link', () => {
    const evil = `"><img src=x onerror=alert(1)>&`;
    const html = renderRunIndex([row({ id: `id ${evil}`, experiment: evil, reason: evil, state: evil, verdict: evil })], {
      now: NOW,
      limit: 1,
      olderThan: `id ${evil}`,
      experiment: evil,
    });
    assert.ok(!html.includes(evil));
    assert.ok(!html.includes('<img'));
    assert.match(html, /href="\/api\/v1\/runs\/id%20%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert\(1\)%3E%26\/report\.html"/);
    assert.match(html, /href="\/\?before=id\+%22%3E%3Cimg\+src%3Dx\+onerror%3Dalert%281%29%3E%26&amp;limit=1&amp;experiment=/);
    assertSafeMarkup(html, { liveScript: true });
  });
});
