/**
 * The CLI's HTTP client for the steadystate service: bearer token, JSON in
 * and out, bounded retries on what is retryable only, and errors that carry
 * the CLI's exit code.
 *
 * What is retried, and how long:
 *   - a connection that was refused, reset or timed out, and a DNS answer of
 *     "try again" (EAI_AGAIN): up to 3 attempts within about 2 s (plus the
 *     request timeout), then `ServerUnreachableError` (exit 4). A refused
 *     connection never reached the server, so even a write is retried; a reset
 *     or a timeout on a write is retried only when the request is idempotent
 *     (a GET, a PUT, or a POST with an Idempotency-Key);
 *   - 429, 502, 503, 504 on idempotent requests, the same 3 attempts
 *     (`Retry-After` honoured up to 5 s);
 *   - nothing else: an unknown host (ENOTFOUND), a TLS failure, any other
 *     4xx or 5xx fail at once. Quietly retrying a mistyped server is how
 *     `wait` used to spend its 30-minute timeout.
 * Exit codes: 64 when the server refused the request as bad input (400, 401,
 * 403, 404, 413, 415, 422…); 4 when the server could not do it in its
 * current state (409: halt-all is on, the run is driven by another replica),
 * failed (5xx, 429 after the retries) or could not be reached. The token is
 * sent, never printed.
 */
import { sleep as realSleep, type SleepFn } from '../lib/retry.ts';
import { EXIT_BAD_INPUT, EXIT_CODES } from './exit-codes.ts';

/** A failure the CLI reports in one line and turns into an exit code. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The server could not be reached (after the retries). Exit 4. */
export class ServerUnreachableError extends CliFailure {
  constructor(message: string) {
    super(message, EXIT_CODES.errored);
  }
}

/** The server answered with an error status. */
export class ApiError extends CliFailure {
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(message, status >= 400 && status < 500 && status !== 409 && status !== 429 ? EXIT_BAD_INPUT : EXIT_CODES.errored);
  }
}

export interface ClientOptions {
  server: string;
  token: string;
  fetch?: typeof fetch;
  sleep?: SleepFn;
  /** Per attempt. Default 10 s. */
  requestTimeoutMs?: number;
  /** Attempts for retryable failures. Default 3. */
  attempts?: number;
  /** Sent as User-Agent, e.g. `steadystate-cli/0.1.0 (cli:alice@laptop)`. */
  userAgent?: string;
}

export interface RequestOptions {
  /** A JSON value (sent as application/json) or text with `contentType`. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  /** Safe to send twice (GET and PUT are; a POST with an Idempotency-Key is). */
  idempotent?: boolean;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
}

/** Network error codes worth another attempt (ECONNREFUSED apart: it never reached the server). */
const TRANSIENT = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
const RETRY_STATUS = new Set([429, 502, 503, 504]);
const DELAYS_MS = [300, 1_000, 2_000];

/** What went wrong on the network, in words, and whether another attempt may help. */
export function describeNetworkError(err: unknown, server: string): { message: string; refused: boolean; transient: boolean } {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return { message: `${server} did not answer in time`, refused: false, transient: true };
  }
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  const code = cause?.code ?? (err as { code?: string } | null)?.code;
  const host = URL.canParse(server) ? new URL(server).host : server;
  if (code === 'ENOTFOUND') return { message: `cannot resolve "${new URL(server).hostname}" (is the --server URL right?)`, refused: false, transient: false };
  if (code === 'ECONNREFUSED') return { message: `nothing listens at ${host} (connection refused)`, refused: true, transient: true };
  if (code !== undefined && TRANSIENT.has(code)) return { message: `${host}: ${code}`, refused: false, transient: true };
  const detail = cause?.message ?? (err instanceof Error ? err.message : String(err));
  return { message: `${host}: ${code ? `${code}: ` : ''}${detail}`, refused: false, transient: false };
}

/** One line out of an error body: `message` and every `errors[]` entry. */
function errorText(body: unknown): string {
  if (body === null || typeof body !== 'object') return typeof body === 'string' && body.trim() !== '' ? body.trim().slice(0, 500) : '';
  const b = body as { message?: unknown; error?: unknown; errors?: unknown };
  const head = typeof b.message === 'string' ? b.message : typeof b.error === 'string' ? b.error : '';
  const issues = Array.isArray(b.errors)
    ? b.errors.map((e: { path?: unknown; message?: unknown; line?: unknown }) => `\n  ${typeof e.path === 'string' ? e.path : ''}${typeof e.line === 'number' ? ` (line ${e.line})` : ''}: ${typeof e.message === 'string' ? e.message : ''}`).join('')
    : '';
  return `${head}${issues}`;
}

export class ApiClient {
  readonly server: string;
  private readonly token: string;
  private readonly doFetch: typeof fetch;
  private readonly sleep: SleepFn;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly userAgent: string;

  constructor(opts: ClientOptions) {
    this.server = opts.server.replace(/\/+$/, '');
    this.token = opts.token;
    this.doFetch = opts.fetch ?? globalThis.fetch;
    this.sleep = opts.sleep ?? realSleep;
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.attempts = Math.max(1, opts.attempts ?? 3);
    this.userAgent = opts.userAgent ?? 'steadystate-cli';
  }

  async get<T>(path: string): Promise<T> {
    return (await this.request<T>('GET', path, { idempotent: true })).body;
  }

  /** One request with the retries described at the top; throws CliFailure. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    const idempotent = opts.idempotent ?? (method === 'GET' || method === 'PUT' || method === 'DELETE');
    // No token, no Authorization header (the deploy webhook authenticates by its signature).
    const headers: Record<string, string> = { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), accept: 'application/json', 'user-agent': this.userAgent, ...opts.headers };
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = typeof opts.body === 'string' && opts.contentType ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] = opts.contentType ?? 'application/json';
    }
    const where = `${method} ${path}`;
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= this.attempts;
      let res: Response;
      try {
        res = await this.doFetch(`${this.server}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}), signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (err) {
        const net = describeNetworkError(err, this.server);
        const retry = net.transient && (net.refused || idempotent) && !last;
        if (!retry) {
          const tries = attempt > 1 ? ` (${attempt} attempts)` : '';
          throw new ServerUnreachableError(`cannot reach the server: ${net.message}${tries}; check --server or STEADYSTATE_SERVER`);
        }
        await this.sleep(DELAYS_MS[attempt - 1] ?? 2_000);
        continue;
      }
      const text = await res.text().catch(() => '');
      let body: unknown = text;
      if (text !== '' && /\bjson\b/.test(res.headers.get('content-type') ?? '')) {
        try {
          body = JSON.parse(text) as unknown;
        } catch {
          body = text;
        }
      }
      if (res.ok) return { status: res.status, body: (text === '' ? null : body) as T };
      if (RETRY_STATUS.has(res.status) && idempotent && !last) {
        const after = Number(res.headers.get('retry-after'));
        await this.sleep(Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 5_000) : (DELAYS_MS[attempt - 1] ?? 2_000));
        continue;
      }
      throw new ApiError(statusMessage(where, res.status, errorText(body)), res.status, body);
    }
  }
}

function statusMessage(where: string, status: number, detail: string): string {
  const tail = detail ? `: ${detail}` : '';
  if (status === 401) return `the server refused the token (401)${tail}; run \`steadystate login\` again or set STEADYSTATE_TOKEN`;
  return `${where} answered ${status}${tail}`;
}
