/**
 * An Alertmanager-shaped server for tests, following its documented API v2:
 * `POST /api/v2/alerts` takes postable alerts (what Prometheus sends:
 * `[{ labels, annotations, startsAt, endsAt, generatorURL }]`), and
 * `GET /api/v2/alerts` answers gettable alerts (`{ labels, annotations,
 * startsAt, endsAt, updatedAt, fingerprint, receivers, status: { state,
 * silencedBy, inhibitedBy } }`) filtered by `active`, `silenced`,
 * `inhibited`, `unprocessed` and repeated `filter` matchers (`a="b"`,
 * `a=~"re"`, `a!="b"`, `a!~"re"`, regexes anchored). Every request is
 * recorded (ContractServer) for tests to assert what was sent and asked.
 */
import { createHash } from 'node:crypto';
import { ContractServer, type Recorded, type Reply } from './contract-server.ts';

interface Held {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  updatedAt: string;
  generatorURL?: string;
}

const MATCHER_RE = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$/;

function matcher(text: string): ((labels: Record<string, string>) => boolean) | undefined {
  const m = MATCHER_RE.exec(text);
  if (!m) return undefined;
  const [, name, op, raw] = m as unknown as [string, string, string, string];
  const value = JSON.parse(`"${raw}"`) as string;
  const re = new RegExp(`^(?:${value})$`);
  return (labels) => {
    const v = labels[name] ?? '';
    return op === '=' ? v === value : op === '!=' ? v !== value : op === '=~' ? re.test(v) : !re.test(v);
  };
}

export class AlertmanagerServer extends ContractServer {
  private readonly alerts = new Map<string, Held>();
  /** Fingerprints to report as silenced. */
  readonly silenced = new Set<string>();

  constructor() {
    super();
    this.route('POST', '/api/v2/alerts', (req) => this.receive(req));
    this.route('GET', '/api/v2/alerts', (req) => this.list(req));
  }

  static fingerprint(labels: Record<string, string>): string {
    const text = Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(',');
    return createHash('sha256').update(text).digest('hex').slice(0, 16);
  }

  /** Alerts Prometheus has posted, by alertname. */
  posted(name: string): Held | undefined {
    return [...this.alerts.values()].find((a) => a.labels.alertname === name);
  }

  private receive(req: Recorded): Reply {
    let body: unknown;
    try {
      body = JSON.parse(req.body);
    } catch {
      return { status: 400, body: { code: 400, message: 'body is not JSON' } };
    }
    if (!Array.isArray(body)) return { status: 400, body: { code: 400, message: 'expected postableAlerts (an array)' } };
    const now = new Date().toISOString();
    for (const a of body as Partial<Held>[]) {
      if (!a.labels || typeof a.labels !== 'object') return { status: 400, body: { code: 400, message: 'labels in body is required' } };
      const fp = AlertmanagerServer.fingerprint(a.labels);
      const prev = this.alerts.get(fp);
      this.alerts.set(fp, {
        labels: a.labels,
        annotations: a.annotations ?? {},
        startsAt: a.startsAt ?? prev?.startsAt ?? now,
        // Alertmanager gives an alert without endsAt a resolve timeout (5m by default).
        endsAt: a.endsAt && a.endsAt !== '0001-01-01T00:00:00Z' ? a.endsAt : new Date(Date.now() + 5 * 60_000).toISOString(),
        updatedAt: now,
        ...(a.generatorURL ? { generatorURL: a.generatorURL } : {}),
      });
    }
    return { status: 200, body: '' };
  }

  private list(req: Recorded): Reply {
    const flag = (name: string): boolean => (req.query.get(name) ?? 'true') !== 'false';
    const matchers = req.query.getAll('filter').map((f) => ({ f, m: matcher(f) }));
    const bad = matchers.find((x) => !x.m);
    if (bad) return { status: 400, body: { code: 400, message: `bad matcher format: ${bad.f}` } };
    const now = Date.now();
    const out = [];
    for (const [fp, a] of this.alerts) {
      const resolved = Date.parse(a.endsAt) <= now;
      if (resolved) continue; // Alertmanager's list holds unresolved alerts only.
      const silenced = this.silenced.has(fp);
      if (!flag('active') && !silenced) continue;
      if (!flag('silenced') && silenced) continue;
      if (!matchers.every((x) => x.m?.(a.labels))) continue;
      out.push({
        ...a,
        fingerprint: fp,
        receivers: [{ name: 'pager' }],
        status: { state: silenced ? 'suppressed' : 'active', silencedBy: silenced ? ['silence-1'] : [], inhibitedBy: [] },
      });
    }
    return { status: 200, body: out };
  }
}
