/**
 * Scrapes Prometheus text endpoints into a MemoryTsdb, every `intervalMs`,
 * the way a Prometheus scrape job with `honor_labels: false` would:
 * - each sample gets the target labels `job` (from the config) and `instance`
 *   (`host:port` of the URL, the default port filled in); a target's own
 *   `job`/`instance` labels are kept as `exported_job`/`exported_instance`;
 * - every scrape also writes `up` (1/0), `scrape_duration_seconds` and
 *   `scrape_samples_scraped` for the target;
 * - a series present in the previous scrape and absent from this one, and
 *   every series of a target whose scrape fails, gets a stale marker: queries
 *   then see no data at once, instead of the last value for 5 minutes;
 * - samples with an explicit timestamp keep it and get no stale markers
 *   (Prometheus's `honor_timestamps: true`).
 *
 * Scrapes happen on a fixed grid at half a step past each multiple of the
 * interval, so that query steps (multiples of the step) never sit exactly on
 * a scrape timestamp and range windows hold a stable number of samples. The
 * schedule timer is unref'd: a process that forgets `close()` still exits.
 */
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { gunzipSync } from 'node:zlib';
import { ExpositionError, parseExposition, type ExposedSample } from './exposition.ts';
import { METRIC_NAME, labelsKey, type MemoryTsdb } from './tsdb.ts';

/** Bodies larger than this fail the scrape: bounded memory, even against a runaway exporter. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

// The classic text format first; an OpenMetrics or protobuf answer is refused below.
const ACCEPT = 'text/plain;version=0.0.4;q=1,*/*;q=0.1';

export interface TargetHealth {
  url: string;
  instance: string;
  /** undefined until the first scrape ends. */
  up: boolean | undefined;
  lastError: string | undefined;
  /** Unix ms of the start of the last finished scrape. */
  lastScrapeAt: number | undefined;
  successes: number;
  failures: number;
}

interface TargetState extends TargetHealth {
  parsed: URL;
  targetLabels: Record<string, string>;
  /** Keys of the series the last successful scrape wrote without explicit timestamps. */
  seen: Set<string>;
  inFlight: boolean;
}

export interface ScraperOptions {
  targets: readonly string[];
  job: string;
  intervalMs: number;
  timeoutMs: number;
}

/** `host:port` as Prometheus's `instance` label: the scheme's default port when the URL has none. */
export function instanceOf(url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.hostname}:${port}`;
}

export class Scraper {
  private readonly targets: TargetState[];
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 4 });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 4 });
  private readonly aborter = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private rounds = 0;
  private roundWaiters: (() => void)[] = [];
  private running: Promise<void> | undefined;

  constructor(
    private readonly tsdb: MemoryTsdb,
    private readonly opts: ScraperOptions,
  ) {
    this.targets = opts.targets.map((url) => {
      const parsed = new URL(url);
      const instance = instanceOf(parsed);
      return {
        url,
        parsed,
        instance,
        targetLabels: { job: opts.job, instance },
        up: undefined,
        lastError: undefined,
        lastScrapeAt: undefined,
        successes: 0,
        failures: 0,
        seen: new Set<string>(),
        inFlight: false,
      };
    });
  }

  /** Completed scrape rounds (every target tried once per round). */
  get completedRounds(): number {
    return this.rounds;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  health(): TargetHealth[] {
    return this.targets.map(({ url, instance, up, lastError, lastScrapeAt, successes, failures }) => ({
      url,
      instance,
      up,
      lastError,
      lastScrapeAt,
      successes,
      failures,
    }));
  }

  /** Start the schedule. Idempotent. */
  start(): void {
    if (this.closed || this.timer) return;
    this.scheduleNext();
  }

  /** Stop scraping, abort scrapes in flight, free sockets. Idempotent; data stays queryable. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.aborter.abort();
    await this.running?.catch(() => undefined);
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    this.wakeWaiters();
  }

  /** Resolves after the next round completes (or at close). */
  nextRound(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.roundWaiters.push(resolve));
  }

  /** One round now: every target scraped once, concurrently. Used by the schedule and by tests. */
  async scrapeOnce(): Promise<void> {
    if (this.closed) return;
    const round = (async () => {
      const now = Date.now();
      await Promise.all(this.targets.map((t) => this.scrapeTarget(t)));
      if (this.closed) return;
      this.tsdb.gc(now);
      this.rounds += 1;
      this.wakeWaiters();
    })();
    this.running = round;
    await round;
  }

  private wakeWaiters(): void {
    const waiters = this.roundWaiters;
    this.roundWaiters = [];
    for (const w of waiters) w();
  }

  private scheduleNext(): void {
    if (this.closed) return;
    const { intervalMs } = this.opts;
    const phase = Math.floor(intervalMs / 2);
    const now = Date.now();
    const next = Math.floor((now - phase) / intervalMs) * intervalMs + phase + intervalMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.scheduleNext();
      void this.scrapeOnce();
    }, next - now);
    this.timer.unref();
  }

  private async scrapeTarget(target: TargetState): Promise<void> {
    // A scrape still running (timeout ≤ interval, so rare) is not doubled up.
    if (target.inFlight || this.closed) return;
    target.inFlight = true;
    const t0 = Date.now();
    let scraped = 0;
    let error: string | undefined;
    try {
      const body = await this.fetchBody(target);
      const samples = parseExposition(body);
      if (this.closed) return;
      scraped = samples.length;
      this.ingest(target, samples, t0);
    } catch (err) {
      if (this.closed) return;
      error = err instanceof ExpositionError ? `unreadable exposition: ${err.message}` : (err as Error).message;
      // Prometheus marks every series of a failed scrape stale: a dead target has no data.
      for (const key of target.seen) this.tsdb.markStale(key, t0);
      target.seen = new Set();
    } finally {
      target.inFlight = false;
    }
    target.up = error === undefined;
    target.lastError = error;
    target.lastScrapeAt = t0;
    if (error === undefined) target.successes += 1;
    else target.failures += 1;
    const report = (name: string, v: number): void => {
      const labels = { ...target.targetLabels, [METRIC_NAME]: name };
      this.tsdb.append(labels, t0, v);
    };
    report('up', error === undefined ? 1 : 0);
    report('scrape_duration_seconds', (Date.now() - t0) / 1000);
    report('scrape_samples_scraped', scraped);
  }

  private ingest(target: TargetState, samples: ExposedSample[], t0: number): void {
    const written = new Set<string>();
    const seen = new Set<string>();
    for (const s of samples) {
      const labels: Record<string, string> = {};
      for (const [n, v] of Object.entries(s.labels)) if (v !== '') labels[n] = v;
      for (const [n, v] of Object.entries(target.targetLabels)) {
        const exposed = labels[n];
        if (exposed !== undefined) {
          let renamed = `exported_${n}`;
          while (labels[renamed] !== undefined) renamed = `exported_${renamed}`;
          labels[renamed] = exposed;
        }
        labels[n] = v;
      }
      labels[METRIC_NAME] = s.name;
      const key = labelsKey(labels);
      // A series twice in one scrape: Prometheus keeps the first and warns.
      if (written.has(key)) continue;
      written.add(key);
      this.tsdb.append(labels, s.timestampMs ?? t0, s.value, key);
      if (s.timestampMs === undefined) seen.add(key);
    }
    for (const key of target.seen) if (!seen.has(key)) this.tsdb.markStale(key, t0);
    target.seen = seen;
  }

  private fetchBody(target: TargetState): Promise<string> {
    const { timeoutMs } = this.opts;
    const signal = AbortSignal.any([this.aborter.signal, AbortSignal.timeout(timeoutMs)]);
    const https = target.parsed.protocol === 'https:';
    return new Promise<string>((resolve, reject) => {
      // An abort shows up as a socket error or a cut-off body: say which abort it was.
      const fail = (err: Error): void => {
        if (this.aborter.signal.aborted) reject(new Error('scraper closed'));
        else if (signal.aborted) reject(new Error(`no complete answer within ${timeoutMs}ms (scrape timeout)`));
        else reject(new Error(err.message || (err as { code?: string }).code || 'connection failed'));
      };
      const req = (https ? httpsRequest : httpRequest)(
        target.parsed,
        {
          method: 'GET',
          agent: https ? this.httpsAgent : this.httpAgent,
          headers: { Accept: ACCEPT, 'Accept-Encoding': 'gzip', 'User-Agent': 'steadystate-scrape' },
          signal,
        },
        (res) => {
          readBody(res, target.url)
            .then((body) => resolve(checkAnswer(res, body, target.url)))
            .catch(fail);
        },
      );
      req.on('error', fail);
      req.end();
    });
  }
}

function readBody(res: IncomingMessage, url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.destroy(new Error(`${url} answered more than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('the connection closed before the answer ended')));
  });
}

function checkAnswer(res: IncomingMessage, raw: Buffer, url: string): string {
  if (res.statusCode !== 200) throw new Error(`server returned HTTP status ${res.statusCode ?? '?'}`);
  const type = String(res.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('application/openmetrics-text') || type.startsWith('application/vnd.google.protobuf')) {
    throw new Error(`${url} answered ${type.split(';')[0] ?? type}; only the Prometheus text format 0.0.4 (text/plain) is supported`);
  }
  let body = raw;
  if (String(res.headers['content-encoding'] ?? '').toLowerCase() === 'gzip') {
    try {
      body = gunzipSync(raw, { maxOutputLength: MAX_BODY_BYTES });
    } catch (err) {
      throw new Error(`gzip body unreadable or larger than ${MAX_BODY_BYTES} bytes: ${(err as Error).message}`, { cause: err });
    }
  }
  return body.toString('utf8');
}
