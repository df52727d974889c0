/** Loading migration files: names, order and duplicates (no database needed). */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MigrationError } from '../../src/store/errors.ts';
import { checksum, loadMigrations, migrate } from '../../src/store/migrate.ts';

describe('loadMigrations', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'steadystate-migrations-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const folder = async (name: string, files: Record<string, string>): Promise<string> => {
    const path = join(dir, name);
    await rm(path, { recursive: true, force: true });
    await mkdir(path);
    for (const [file, text] of Object.entries(files)) await writeFile(join(path, file), text);
    return path;
  };

  it('the shipped migrations load, numbered from 1 without gaps', async () => {
    const migrations = await loadMigrations();
    assert.ok(migrations.length >= 1);
    assert.deepEqual(migrations.map((m) => m.version), migrations.map((_, i) => i + 1));
  });

  it('orders by number, not by name, and records a checksum of the text', async () => {
    const path = await folder('ordered', { '010_ten.sql': 'SELECT 10;', '002_two.sql': 'SELECT 2;', 'README.md': 'ignored' });
    const migrations = await loadMigrations(path);
    assert.deepEqual(migrations.map((m) => [m.version, m.name]), [[2, 'two'], [10, 'ten']]);
    assert.equal(migrations[0]!.checksum, checksum('SELECT 2;'));
  });

  it('refuses badly named files, duplicate numbers, an empty or missing directory', async () => {
    await assert.rejects(loadMigrations(await folder('bad-name', { '1_x.sql': '' })), MigrationError);
    await assert.rejects(loadMigrations(await folder('bad-name2', { '001 initial.sql': '' })), MigrationError);
    await assert.rejects(loadMigrations(await folder('dupe', { '001_a.sql': '', '001_b.sql': '' })), /two migrations numbered 1/);
    await assert.rejects(loadMigrations(await folder('empty', {})), /no migrations/);
    await assert.rejects(loadMigrations(join(dir, 'missing')), /cannot read migrations directory/);
  });

  it('migrate refuses duplicate numbers before touching the database', async () => {
    const m = { version: 1, name: 'a', sql: '', checksum: checksum('') };
    const untouchable = new Proxy({}, { get: () => assert.fail('the database must not be used') });
    await assert.rejects(migrate(untouchable as never, [m, { ...m, name: 'b' }]), MigrationError);
  });
});
