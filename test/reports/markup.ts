/**
 * Structural checks of generated HTML/SVG, stricter than looking for one
 * hostile string: every element must be one the renderers emit, no attribute
 * may be an event handler, and nothing may point outside the document.
 */
import assert from 'node:assert/strict';

const ELEMENTS = new Set([
  'html', 'head', 'meta', 'link', 'title', 'style', 'body', 'main', 'header', 'footer', 'section', 'p', 'div', 'span', 'h1', 'h2', 'h3',
  'dl', 'dt', 'dd', 'code', 'pre', 'strong', 'br', 'ul', 'li', 'a', 'details', 'summary', 'figure', 'figcaption',
  'table', 'thead', 'tbody', 'tr', 'th', 'td',
  'svg', 'desc', 'g', 'rect', 'line', 'path', 'circle', 'text',
  // The service's pages: navigation, Log out, and the Abort / Halt-all forms (posted by our script).
  'nav', 'button', 'form', 'label', 'input',
]);

/** The one script a service page may load: ours, from this origin, with no inline body. */
const LIVE_SCRIPT_TAG = '<script src="/assets/live-run.js" defer></script>';

/** Opening tags with their attribute text; escaped user text cannot produce a `<` here. */
export function tagsOf(html: string): { name: string; attrs: string }[] {
  return Array.from(html.replace(/<!doctype html>/i, '').matchAll(/<([a-zA-Z][\w-]*)((?:\s+[^\s=>]+(?:="[^"]*"|='[^']*')?)*)\s*\/?>/g), (m) => ({
    name: (m[1] ?? '').toLowerCase(),
    attrs: m[2] ?? '',
  }));
}

export function assertSafeMarkup(html: string, opts: { liveScript?: boolean } = {}): void {
  if (opts.liveScript) {
    assert.equal(html.split(LIVE_SCRIPT_TAG).length, 2, 'exactly one script tag: ours, same origin, empty');
    html = html.replace(LIVE_SCRIPT_TAG, '');
  }
  // Any `<` followed by a letter must be one of our tags, fully parsed above.
  const opened = (html.replace(/<!doctype html>/i, '').match(/<[a-zA-Z]/g) ?? []).length;
  const tags = tagsOf(html);
  assert.equal(tags.length, opened, 'every tag opening parses as a well-formed tag');
  for (const { name, attrs } of tags) {
    assert.ok(ELEMENTS.has(name), `unexpected element <${name}${attrs}>`);
    // Pairs in sequence, each quoted value consumed whole: text inside a value is not an attribute.
    const names = Array.from(attrs.matchAll(/\s+([^\s=>]+)(?:="[^"]*"|='[^']*')?/g), (m) => (m[1] ?? '').toLowerCase());
    for (const a of names) {
      assert.ok(!a.startsWith('on'), `event handler attribute ${a} on <${name}>`);
      assert.ok(a !== 'src' && a !== 'srcset' && a !== 'xlink:href', `resource attribute ${a} on <${name}>`);
    }
    const href = /\shref="([^"]*)"/.exec(attrs)?.[1];
    if (name === 'link') assert.equal(attrs.trim(), 'rel="icon" href="data:,"', 'the only link is the empty icon');
    else if (href !== undefined) assert.match(href, /^\/(?!\/)/, `links stay on this service: ${href}`);
  }
  assert.ok(!/url\(/i.test(html.replace(/<pre[\s\S]*?<\/pre>/g, '')), 'no CSS url()');
  assert.ok(!/<script/i.test(html), 'no script');
}
