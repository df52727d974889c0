/**
 * docs/operations.md carries the role × route table; this test derives the
 * same table from the routes the app registers (method, URL and the role each
 * declares, collected by fastify's onRoute hook in src/http/app.ts) and fails
 * when the two drift apart — a new route, a changed role, a removed one. The
 * failure prints the table to paste.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { routesOf } from '../../src/http/app.ts';
import { startHttpHarness, type HttpHarness } from './harness.ts';

const DOC = new URL('../../docs/operations.md', import.meta.url);
const BEGIN = '<!-- route-roles:begin (generated from the registered routes; test/http/roles-doc.test.ts) -->';
const END = '<!-- route-roles:end -->';
const ROLES = ['viewer', 'operator', 'admin'] as const;
const RANK: Record<string, number> = { viewer: 1, operator: 2, admin: 3 };

export function routeRoleTable(routes: readonly { method: string; url: string; access: string | undefined }[]): string {
  const rows = new Map<string, string>();
  for (const r of routes) {
    if (r.method === 'HEAD') continue;
    // The OpenAPI UI's routes come from a plugin; auth.ts reads every /docs path as viewer.
    const docs = r.url.startsWith('/docs');
    const url = docs ? '/docs…' : r.url;
    const need = docs ? 'viewer' : (r.access ?? 'admin');
    const key = `${r.method} ${url}`;
    const cells = ROLES.map((role) => (need === 'public' || RANK[role]! >= RANK[need]! ? '✓' : '—'));
    rows.set(key, `| \`${key}\` | ${need === 'public' ? 'none (public)' : need} | ${cells.join(' | ')} |`);
  }
  // By path, then method.
  const order = (row: string): string => row.replace(/^\| `(\w+) (\S+)`.*$/, '$2 $1');
  const body = [...rows.values()].sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  return ['| route | needs | viewer | operator | admin |', '| --- | --- | :-: | :-: | :-: |', ...body].join('\n');
}

describe('docs/operations.md: the role × route table', () => {
  let h: HttpHarness;
  before(async () => {
    h = await startHttpHarness();
  });
  after(async () => h.close());

  it('is the table of the routes the app registers, with the roles they declare', async () => {
    const text = await readFile(DOC, 'utf8');
    const start = text.indexOf(BEGIN);
    const end = text.indexOf(END);
    assert.ok(start >= 0 && end > start, `docs/operations.md must hold the table between\n${BEGIN}\nand\n${END}`);
    const documented = text.slice(start + BEGIN.length, end).trim();
    const derived = routeRoleTable(routesOf(h.app));
    assert.equal(documented, derived, `docs/operations.md and the routes disagree; the table from the routes is:\n\n${derived}\n`);
  });

  it('catches drift: a route with another role gives another table', () => {
    const routes = [...routesOf(h.app)];
    const derived = routeRoleTable(routes);
    const changed = routeRoleTable(routes.map((r) => (r.url === '/api/v1/halt-all' && r.method === 'POST' ? { ...r, access: 'admin' } : r)));
    assert.notEqual(changed, derived);
    assert.notEqual(routeRoleTable([...routes, { method: 'POST', url: '/api/v1/new', access: undefined }]), derived);
  });
});
