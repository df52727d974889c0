/** `steadystate token create --role R --name N` — prints the token once; only its hash is stored. */
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { ValidationError } from '../lib/errors.ts';
import { openStore } from '../store/open-store.ts';
import { ROLES, type Role } from '../store/types.ts';

export function registerTokenCommand(program: Command): void {
  const token = program.command('token').description('manage API tokens');
  token
    .command('create')
    .description('create a token and print it (once)')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .requiredOption('--name <name>', 'who or what the token is for')
    .action(async (opts: { role: string; name: string }) => {
      if (!(ROLES as readonly string[]).includes(opts.role)) {
        throw new ValidationError([{ path: '--role', message: `must be one of ${ROLES.join(', ')}` }]);
      }
      if (opts.name.trim() === '' || opts.name.length > 100) {
        throw new ValidationError([{ path: '--name', message: 'must be 1 to 100 characters' }]);
      }
      const config = loadConfig(process.env);
      const store = await openStore(config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: config.dataDir });
      try {
        const created = await store.tokens.create({ name: opts.name, role: opts.role as Role });
        process.stdout.write(`${created.token}\n`);
        process.stderr.write(`token ${created.id} (${created.role}) for "${created.name}" created; it is shown only this once\n`);
      } finally {
        await store.close();
      }
    });
}
