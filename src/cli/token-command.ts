/**
 * `steadystate token create --role R --name N` — bootstrap: writes a token
 * straight into the store this environment names (PGlite in
 * STEADYSTATE_DATA_DIR, or DATABASE_URL), prints the token once (only its hash
 * is stored), and says where it wrote. With a service running, use
 * `steadystate tokens create --server URL` instead (a PGlite directory is
 * locked by its server anyway).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ValidationError } from '../lib/errors.ts';
import { ROLES, type Role } from '../store/types.ts';

/** Where the store is, in words that never include a password. */
export function storeLocation(config: { databaseUrl: string | undefined; dataDir: string }): string {
  if (!config.databaseUrl) return `the data directory ${resolve(config.dataDir)} (PGlite)`;
  try {
    const u = new URL(config.databaseUrl);
    return `the PostgreSQL database ${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname} (DATABASE_URL)`;
  } catch {
    return 'the PostgreSQL database of DATABASE_URL';
  }
}

export function registerTokenCommand(program: Command): void {
  const token = program.command('token').description('bootstrap tokens in a local store (with a server running, use `tokens`)');
  token
    .command('create')
    .description('create a token in the store of STEADYSTATE_DATA_DIR or DATABASE_URL and print it (once)')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .requiredOption('--name <name>', 'who or what the token is for')
    .action(async (opts: { role: string; name: string }) => {
      if (!(ROLES as readonly string[]).includes(opts.role)) {
        throw new ValidationError([{ path: '--role', message: `must be one of ${ROLES.join(', ')}` }]);
      }
      if (opts.name.trim() === '' || opts.name.length > 100) {
        throw new ValidationError([{ path: '--name', message: 'must be 1 to 100 characters' }]);
      }
      // Loaded here: the configuration's schema is only this command's business at start-up.
      const { loadConfig } = await import('../config.ts');
      const config = loadConfig(process.env);
      const { openStore } = await import('../store/open-store.ts');
      const store = await openStore(config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: config.dataDir });
      try {
        const created = await store.tokens.create({ name: opts.name, role: opts.role as Role });
        process.stdout.write(`${created.token}\n`);
        process.stderr.write(
          `token ${created.id} (${created.role}) for "${created.name}" written to ${storeLocation(config)}; it is shown only this once.\n` +
            'A server on this store accepts it: `steadystate login --server URL` reads it from STEADYSTATE_TOKEN or standard input.\n' +
            'With a server already running, create tokens through it instead: `steadystate tokens create --server URL --role ROLE --name NAME`.\n',
        );
      } finally {
        await store.close();
      }
    });
}
