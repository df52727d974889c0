/**
 * Fuzzing the API with malformed bodies, specs, headers and paths (fast-check,
 * seeded so a failure can be replayed): never a 5xx, the app keeps answering,
 * and what was stored before is unchanged.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import fc from 'fast-check';
import { startHttpHarness, specYaml, type HttpHarness } from './harness.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261123);

describe('API fuzz: never a 5xx, nothing stored is lost', () => {
  let h: HttpHarness;
  let sent = 0;
  const baseline = specYaml('fuzz-target');
  let before1: string;

  before(async () => {
    h = await startHttpHarness();
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': 'application/yaml' },
      payload: baseline,
    });
    assert.equal(res.statusCode, 201);
    before1 = JSON.stringify(await h.store.experiments.getVersion('fuzz-target', 1));
  });

  after(async () => {
    // Everything stored before the fuzzing is intact, and the app still answers.
    assert.equal(JSON.stringify(await h.store.experiments.getVersion('fuzz-target', 1)), before1);
    const health = await h.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200);
    console.log(`fuzz: ${sent} requests, seed ${SEED}`);
    assert.ok(sent >= 1_000, `only ${sent} fuzz requests were sent`);
    await h.close();
  });

  const check = async (req: InjectOptions): Promise<number> => {
    sent += 1;
    const res = await h.app.inject(req);
    assert.ok(res.statusCode < 500, `${res.statusCode} for ${JSON.stringify(req).slice(0, 300)}: ${res.body.slice(0, 300)}`);
    return res.statusCode;
  };

  /** A valid spec with lines dropped, duplicated, or characters replaced. */
  const mutatedSpec = fc
    .tuple(fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), fc.constantFrom('drop', 'dup', 'char', 'truncate', 'indent'), fc.string({ maxLength: 3 }))
    .map(([positions, how, junk]) => {
      const lines = baseline.split('\n');
      for (const p of positions) {
        const i = p % lines.length;
        if (how === 'drop') lines.splice(i, 1);
        else if (how === 'dup') lines.splice(i, 0, lines[i] ?? '');
        else if (how === 'indent') lines[i] = ` ${lines[i] ?? ''}`;
        else if (how === 'truncate') return lines.join('\n').slice(0, p % baseline.length);
        else {
          const line = lines[i] ?? '';
          const at = p % Math.max(1, line.length);
          lines[i] = line.slice(0, at) + junk + line.slice(at + 1);
        }
      }
      return lines.join('\n');
    });

  it('malformed YAML and mutated specs on create and update', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutatedSpec, fc.string({ maxLength: 400 }), fc.string({ unit: 'binary', maxLength: 200 })), fc.boolean(), async (text, update) => {
        const status = await check({
          method: update ? 'PUT' : 'POST',
          url: update ? '/api/v1/experiments/fuzz-target' : '/api/v1/experiments',
          headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': 'application/yaml' },
          payload: text,
        });
        // Anything accepted must really be a valid spec: re-validate what was stored.
        if (status < 300 && update) {
          const latest = await h.store.experiments.get('fuzz-target');
          assert.ok(latest && latest.spec.metadata.name === 'fuzz-target');
        }
      }),
      { numRuns: 500, seed: SEED },
    );
  });

  it('arbitrary JSON bodies on every writing route', async () => {
    const routes = ['/api/v1/experiments', '/api/v1/experiments/fuzz-target', '/api/v1/tokens', '/api/v1/halt-all', '/api/v1/experiments/fuzz-target/runs'];
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), fc.constantFrom(...routes), async (value, url) => {
        await check({
          method: url.endsWith('fuzz-target') ? 'PUT' : 'POST',
          url,
          headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': 'application/json' },
          payload: JSON.stringify(value),
        });
      }),
      { numRuns: 300, seed: SEED + 1 },
    );
    // Runs started by the fuzzing (valid bodies are ignored by the start route) are stopped.
    await h.runs.haltAll('fuzz-cleanup');
    await h.store.settings.clearHaltAll('fuzz-cleanup');
  });

  it('hostile headers and paths', async () => {
    const headerValue = fc.oneof(fc.string({ maxLength: 100 }), fc.constantFrom('Bearer', 'Bearer ', 'bearer x y', 'Basic Og==', `Bearer ${'a'.repeat(5000)}`));
    const printable = (s: string): string => s.replace(/[^\x21-\x7e]/g, 'x');
    await fc.assert(
      fc.asyncProperty(
        headerValue,
        fc.string({ maxLength: 60 }),
        fc.string({ maxLength: 80 }),
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
        fc.constantFrom('/api/v1/runs/', '/api/v1/experiments/', '/api/v1/runs/x/report.', '/api/v1/tokens/', '/'),
        async (auth, contentType, tail, method, prefix) => {
          await check({
            method: method,
            url: prefix + encodeURIComponent(tail),
            headers: { authorization: printable(auth), 'content-type': printable(contentType) || 'x', 'idempotency-key': printable(tail) || 'k' },
            payload: method === 'GET' || method === 'DELETE' ? undefined : tail,
          });
          await check({
            method: method,
            url: prefix + encodeURIComponent(tail),
            headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': printable(contentType) || 'x' },
            payload: method === 'GET' || method === 'DELETE' ? undefined : tail,
          });
        },
      ),
      { numRuns: 150, seed: SEED + 2 },
    );
  });
});
