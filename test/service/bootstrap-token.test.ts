/**
 * Rotating STEADYSTATE_ADMIN_TOKEN: the service is started (for real, on a
 * PGlite data directory that survives restarts) with one value, then with
 * another. The old value must stop working on the first start with the new
 * one; a value rotated out stays revoked. (Each start migrates and opens
 * PGlite on disk: about ten seconds, so three starts and no more.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { startService } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';

const newToken = (): string => randomBytes(32).toString('base64url');

describe('bootstrap admin token rotation', () => {
  let dataDir: string;
  const logger = pino({ level: process.env.STEADYSTATE_TEST_LOG ?? 'silent' });

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'steadystate-bootstrap-'));
  });
  after(async () => rm(dataDir, { recursive: true, force: true }));

  /** Start the service with `adminToken` (or none), answer `GET /api/v1/tokens` for each token, stop. */
  async function statusesWith(adminToken: string | undefined, probe: string[]): Promise<number[]> {
    const config = loadConfig({
      STEADYSTATE_LISTEN: '127.0.0.1:0',
      STEADYSTATE_DATA_DIR: dataDir,
      STEADYSTATE_SCHEDULER: 'off',
      ...(adminToken ? { STEADYSTATE_ADMIN_TOKEN: adminToken } : {}),
    });
    const service = await startService(config, logger);
    try {
      const out: number[] = [];
      for (const token of probe) {
        out.push((await service.app.inject({ method: 'GET', url: '/api/v1/tokens', headers: { authorization: `Bearer ${token}` } })).statusCode);
      }
      return out;
    } finally {
      await service.stop('test');
    }
  }

  it('the old value stops working when the variable changes; a rotated-out value stays revoked', async () => {
    const first = newToken();
    const second = newToken();
    assert.deepEqual(await statusesWith(first, [first]), [200]);
    assert.deepEqual(await statusesWith(second, [first, second]), [401, 200], 'after rotation: old 401, new 200');
    // Going back to the old value does not revive it, and does not revoke the newer one.
    assert.deepEqual(await statusesWith(first, [first, second]), [401, 200]);
  });
});
