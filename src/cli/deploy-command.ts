/**
 * `steadystate deploy --service S --environment E [--revision R] [--id ID] [--wait]`
 *
 * Tells the service that S was deployed to E: posts a signed delivery to the
 * generic deploy webhook (`POST /hooks/deploy/generic`, docs/triggers/README.md)
 * and prints the ids of the runs it started. With `--wait` it then follows them
 * like `wait` and exits with their verdict (worst wins: 4 > 2 > 1 > 3 > 0).
 * This is the pipeline gate of docs/triggers/github-actions.md without jq,
 * openssl or curl, and what the GitHub Action (action.yml) runs.
 *
 * The signature is the generic webhook's: `X-Steadystate-Signature:
 * sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>` with
 * `X-Steadystate-Timestamp`, over exactly the bytes sent. The secret comes from
 * STEADYSTATE_WEBHOOK_SECRET_GENERIC only (the server's variable of the same
 * name): never a flag, which would show in the process list, and never printed.
 *
 * The delivery id (`id` in the body) is `--id`, else a fresh UUID. A retry of
 * the same delivery (this command's own retries, or a pipeline step re-run with
 * the same `--id` and the same revision) is a redelivery: the server answers
 * with the runs it started the first time and starts nothing new.
 *
 * Exit codes without `--wait`: 0 runs started (or found again); 64 bad input —
 * a missing secret or flag, a signature the server refused (401), the webhook
 * not enabled (404), a stale or replayed delivery, or no experiment matching
 * the service and environment (unless `--allow-none`); 4 when no run could
 * start now (halt-all, a busy target) or the server failed or was unreachable.
 * With `--wait`: the runs' verdict as `wait` exits.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { parseDuration } from '../lib/duration.ts';
import { hmacSha256Hex } from '../triggers/signature.ts';
import { ApiClient, ApiError, CliFailure } from './client.ts';
import { credentialsPath, normalizeServer, readCredentials } from './credentials.ts';
import { EXIT_BAD_INPUT, EXIT_CODES } from './exit-codes.ts';
import { cliActor } from './actor.ts';
import { connect, exitCodeOf, SERVER_HELP, streams, type CliIo } from './service-context.ts';
import { waitForRuns, type RunOutcome, type WaitOptions } from './wait-command.ts';

/** The environment variable that holds the generic webhook's secret, on the server and here. */
export const DEPLOY_SECRET_ENV = 'STEADYSTATE_WEBHOOK_SECRET_GENERIC';

export interface DeployOptions {
  service?: string;
  environment?: string;
  revision?: string;
  id?: string;
  server?: string;
  wait?: boolean;
  timeout: string;
  allowNone?: boolean;
  json?: boolean;
}

/** What `POST /hooks/deploy/{provider}` answers (docs/triggers/README.md). */
export interface DeployAnswer {
  provider: string;
  delivery: string;
  duplicate?: boolean;
  service?: string;
  environment?: string;
  ignored?: string;
  runs: { id: string; experiment: string; url?: string; created?: boolean }[];
  skipped?: { experiment: string; error: string; message: string }[];
}

/** The signed request the generic webhook accepts: exactly these bytes, these headers. */
export function signDeploy(secret: string, body: string, nowMs: number): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  return {
    'x-steadystate-timestamp': timestamp,
    'x-steadystate-signature': `sha256=${hmacSha256Hex(secret, `${timestamp}.`, body)}`,
  };
}

const text = (value: string | undefined, flag: string, max: number): string => {
  const v = value?.trim() ?? '';
  if (v === '' || v.length > max) throw new CliFailure(`${flag} must be 1 to ${max} characters`, EXIT_BAD_INPUT);
  return v;
};

/** The server without a token (the webhook's signature is its authentication). */
async function serverOnly(flag: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  const given = flag ?? (env.STEADYSTATE_SERVER || undefined);
  const raw = given ?? (await readCredentials(credentialsPath(env))).current;
  if (!raw) throw new CliFailure('no server: give --server URL, set STEADYSTATE_SERVER, or run `steadystate login --server URL` first', EXIT_BAD_INPUT);
  return normalizeServer(raw, flag !== undefined ? '--server' : given !== undefined ? 'STEADYSTATE_SERVER' : 'the credentials file');
}

export async function deployCommand(opts: DeployOptions, io: CliIo & { wait?: Partial<WaitOptions>; now?: () => number } = {}): Promise<number> {
  return exitCodeOf('deploy', io, async () => {
    const { env, out, err } = streams(io);
    const service = text(opts.service, '--service', 128);
    const environment = text(opts.environment, '--environment', 128);
    const revision = opts.revision === undefined || opts.revision.trim() === '' ? undefined : text(opts.revision, '--revision', 256);
    const id = opts.id === undefined || opts.id.trim() === '' ? randomUUID() : opts.id.trim();
    if (!/^[\x21-\x7e]{1,200}$/.test(id)) throw new CliFailure('--id must be 1 to 200 printable ASCII characters without spaces', EXIT_BAD_INPUT);
    const timeoutMs = parseDuration(opts.timeout);
    if (timeoutMs === undefined || timeoutMs <= 0) throw new CliFailure(`--timeout "${opts.timeout}" is not a duration (e.g. 30m)`, EXIT_BAD_INPUT);
    const secret = env[DEPLOY_SECRET_ENV] ?? '';
    if (secret.length < 16) throw new CliFailure(`set ${DEPLOY_SECRET_ENV} to the generic webhook's secret (at least 16 characters; it is never a flag)`, EXIT_BAD_INPUT);
    // With --wait the token is needed afterwards: ask for it before anything starts.
    const connection = opts.wait ? await connect(opts.server, io) : undefined;
    const server = connection?.server ?? (await serverOnly(opts.server, env));

    const body = JSON.stringify({ service, environment, ...(revision !== undefined ? { revision } : {}), id });
    const hook = new ApiClient({ server, token: '', userAgent: `steadystate-cli/0.1.0 (${cliActor()})`, ...(io.fetch ? { fetch: io.fetch } : {}), ...(io.sleep ? { sleep: io.sleep } : {}) });
    let answer: DeployAnswer;
    try {
      answer = (
        await hook.request<DeployAnswer>('POST', '/hooks/deploy/generic', {
          body,
          contentType: 'application/json',
          headers: signDeploy(secret, body, (io.now ?? Date.now)()),
          // The body carries a fixed delivery id: a second copy is a redelivery, never a second deploy.
          idempotent: true,
        })
      ).body;
    } catch (e) {
      throw webhookFailure(e);
    }

    const runs = answer.runs ?? [];
    const skipped = answer.skipped ?? [];
    err(`deploy ${service} to ${environment}: delivery ${answer.delivery}${answer.duplicate ? ' (already received)' : ''}, ${runs.length} run(s)${runs.length > 0 ? `: ${runs.map((r) => `${r.id} (${r.experiment})`).join(', ')}` : ''}\n`);
    for (const s of skipped) err(`  skipped ${s.experiment}: ${s.error} — ${s.message}\n`);
    if (runs.length === 0) {
      if (skipped.length > 0) throw new CliFailure('no run could start now (see the skipped experiments above)', EXIT_CODES.errored);
      if (!opts.allowNone) {
        throw new CliFailure(`nothing to run: ${answer.ignored ?? 'no experiment matched'} (experiments need metadata.service "${service}" and metadata.environment "${environment}"; --allow-none makes this exit 0)`, EXIT_BAD_INPUT);
      }
      if (opts.json) out(`${JSON.stringify(opts.wait ? { deploy: answer, exitCode: 0, timedOut: false, runs: [] } : answer)}\n`);
      return 0;
    }
    if (!connection) {
      out(opts.json ? `${JSON.stringify(answer)}\n` : runs.map((r) => `${r.id}\n`).join(''));
      return 0;
    }

    const result = await waitForRuns(
      runs.map((r) => r.id),
      {
        server,
        token: connection.token,
        timeoutMs,
        onChange: (r) => err(`[${new Date().toISOString().slice(11, 19)}] ${r.id}${r.experiment ? ` (${r.experiment})` : ''}: ${r.state ?? '?'}\n`),
        ...(io.fetch ? { fetch: io.fetch } : {}),
        ...io.wait,
      },
    );
    if (result.error && !result.timedOut) throw new CliFailure(result.error, result.exitCode);
    if (opts.json) {
      out(`${JSON.stringify({ deploy: answer, exitCode: result.exitCode, timedOut: result.timedOut, runs: result.runs })}\n`);
    } else {
      for (const r of result.runs) out(`${outcomeLine(r)}\n`);
    }
    if (result.timedOut) {
      const active = result.runs.filter((r) => r.exitCode === null).map((r) => r.id);
      err(`steadystate deploy: timed out after ${opts.timeout}; still active: ${active.join(', ')} (they go on; \`steadystate wait\` to follow them)\n`);
    }
    return result.exitCode;
  });
}

/** The client's words are about API tokens; the webhook's 401 and 404 are about the secret. */
function webhookFailure(e: unknown): unknown {
  if (!(e instanceof ApiError)) return e;
  const b = e.body as { error?: unknown; message?: unknown } | null;
  const detail = b && typeof b === 'object' && typeof b.message === 'string' ? `: ${typeof b.error === 'string' ? `${b.error}: ` : ''}${b.message}` : '';
  if (e.status === 401) return new CliFailure(`POST /hooks/deploy/generic answered 401${detail}; check ${DEPLOY_SECRET_ENV} (the server's value) and this machine's clock`, EXIT_BAD_INPUT);
  if (e.status === 404) return new CliFailure(`POST /hooks/deploy/generic answered 404: the generic webhook is not enabled on this server (it needs ${DEPLOY_SECRET_ENV} set), or --server is not a steadystate service`, EXIT_BAD_INPUT);
  return e;
}

function outcomeLine(r: RunOutcome): string {
  const state = r.state ? r.state.toUpperCase() : 'UNKNOWN';
  return `${r.id}${r.experiment ? ` ${r.experiment}` : ''}: ${state}${r.exitCode !== null ? ` (exit ${r.exitCode})` : ' (not ended)'}${r.reason ? ` — ${r.reason}` : ''}`;
}

export function registerDeployCommand(program: Command, io: CliIo = {}): void {
  program
    .command('deploy')
    .description(`report a deploy through the signed generic webhook (secret in ${DEPLOY_SECRET_ENV}); with --wait, exit like wait: 0 passed, 1 failed, 2 halted, 3 inconclusive, 4 errored/aborted`)
    .requiredOption('--service <name>', "the deployed service (matches the experiments' metadata.service)")
    .requiredOption('--environment <name>', "where it was deployed (matches metadata.environment)")
    .option('--revision <rev>', 'what was deployed, e.g. a commit SHA (recorded with the runs)')
    .option('--id <delivery>', 'delivery id: the same id and body again is a redelivery with the same runs (default: a new UUID)')
    .option('--server <url>', SERVER_HELP)
    .option('--wait', 'follow the runs to their end and exit with their verdict (needs STEADYSTATE_TOKEN, viewer role)')
    .option('--timeout <duration>', 'with --wait: give up waiting after this long (exit 4; the runs go on)', '30m')
    .option('--allow-none', 'exit 0 when no experiment matches the service and environment (default: 64)')
    .option('--json', 'print the webhook answer (with --wait: { deploy, exitCode, timedOut, runs }) on stdout')
    .action(async (opts: DeployOptions) => {
      process.exitCode = await deployCommand(opts, io);
    });
}
