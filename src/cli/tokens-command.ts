/**
 * `steadystate tokens create|list|revoke` — API tokens on a running server
 * (admin). A new token is printed once, on stdout, and never again: the
 * server keeps only its hash. (`steadystate token create`, singular, writes
 * straight into a local data directory or database for bootstrap.)
 */
import type { Command } from 'commander';
import { ROLES } from '../store/types.ts';
import { CliFailure } from './client.ts';
import { EXIT_BAD_INPUT } from './exit-codes.ts';
import { connect, exitCodeOf, SERVER_HELP, streams, table, type CliIo } from './service-context.ts';

interface TokenInfo {
  id: string;
  name: string;
  role: string;
  createdAt: string;
  revokedAt: string | null;
}

const time = (iso: string | null): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

export async function tokensCreate(opts: { role: string; name: string; server?: string; json?: boolean }, io: CliIo = {}): Promise<number> {
  return exitCodeOf('tokens create', io, async () => {
    const { out, err } = streams(io);
    if (!(ROLES as readonly string[]).includes(opts.role)) throw new CliFailure(`--role must be one of ${ROLES.join(', ')}, got "${opts.role}"`, EXIT_BAD_INPUT);
    if (opts.name.trim() === '' || opts.name.length > 100) throw new CliFailure('--name must be 1 to 100 characters', EXIT_BAD_INPUT);
    const { server, client } = await connect(opts.server, io);
    const { body } = await client.request<{ token: TokenInfo & { token: string } }>('POST', '/api/v1/tokens', { body: { name: opts.name, role: opts.role } });
    out(opts.json ? `${JSON.stringify(body)}\n` : `${body.token.token}\n`);
    err(`token ${body.token.id} (${body.token.role}) for "${body.token.name}" created on ${server}; it is shown only this once\n`);
    return 0;
  });
}

export async function tokensList(opts: { server?: string; json?: boolean }, io: CliIo = {}): Promise<number> {
  return exitCodeOf('tokens list', io, async () => {
    const { out } = streams(io);
    const { client } = await connect(opts.server, io);
    const body = await client.get<{ tokens: TokenInfo[] }>('/api/v1/tokens');
    out(opts.json ? `${JSON.stringify(body)}\n` : table(['ID', 'NAME', 'ROLE', 'CREATED', 'REVOKED'], body.tokens.map((t) => [t.id, t.name, t.role, time(t.createdAt), time(t.revokedAt)])));
    return 0;
  });
}

export async function tokensRevoke(id: string, opts: { server?: string; json?: boolean }, io: CliIo = {}): Promise<number> {
  return exitCodeOf('tokens revoke', io, async () => {
    const { out } = streams(io);
    const { client } = await connect(opts.server, io);
    const { body } = await client.request<{ token: TokenInfo }>('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
    out(opts.json ? `${JSON.stringify(body)}\n` : `token/${body.token.id} (${body.token.name}) revoked at ${time(body.token.revokedAt)}\n`);
    return 0;
  });
}

export function registerTokensCommand(program: Command, io: CliIo = {}): void {
  const tokens = program.command('tokens').description('API tokens on a running server (admin)');
  tokens
    .command('create')
    .description('create a token and print it (once) on stdout')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .requiredOption('--name <name>', 'who or what the token is for')
    .option('--server <url>', SERVER_HELP)
    .option('--json', 'print { token: { id, name, role, createdAt, revokedAt, token } } on stdout')
    .action(async (opts: { role: string; name: string; server?: string; json?: boolean }) => {
      process.exitCode = await tokensCreate(opts, io);
    });
  tokens
    .command('list')
    .description('list tokens (never the tokens themselves)')
    .option('--server <url>', SERVER_HELP)
    .option('--json', 'print { tokens: [{ id, name, role, createdAt, revokedAt }] } on stdout')
    .action(async (opts: { server?: string; json?: boolean }) => {
      process.exitCode = await tokensList(opts, io);
    });
  tokens
    .command('revoke')
    .description('revoke a token by id; it stops working at once')
    .argument('<id>', 'the token id (from tokens list)')
    .option('--server <url>', SERVER_HELP)
    .option('--json', 'print { token } on stdout')
    .action(async (id: string, opts: { server?: string; json?: boolean }) => {
      process.exitCode = await tokensRevoke(id, opts, io);
    });
}
