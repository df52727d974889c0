/**
 * A Toxiproxy admin API for contract tests, on the recording contract server,
 * following Toxiproxy's README: `GET /proxies` (an object keyed by name, each
 * with its toxics), `GET /proxies/{p}`, `POST /proxies/{p}/toxics` (409 on a
 * duplicate name), `GET|DELETE /proxies/{p}/toxics/{t}` (204), `GET /version`;
 * errors as `{ error, status }`; 403 to user agents starting `Mozilla/`.
 */
import { ContractServer, type Recorded, type Reply } from '../helpers/contract-server.ts';

export interface Toxic {
  name: string;
  type: string;
  stream: string;
  toxicity: number;
  attributes: Record<string, number>;
}

export interface Proxy {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics: Toxic[];
}

const TYPES = new Set(['latency', 'bandwidth', 'timeout', 'reset_peer', 'slow_close', 'limit_data', 'slicer']);

function error(status: number, message: string): Reply {
  return { status, body: { error: message, status } };
}

export class FakeToxiproxy {
  readonly server = new ContractServer();
  readonly proxies = new Map<string, Proxy>();

  get url(): string {
    return this.server.url;
  }

  async start(): Promise<this> {
    await this.server.start();
    this.install();
    return this;
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  reset(): void {
    this.server.reset();
    this.install();
    this.proxies.clear();
  }

  addProxy(name: string, toxics: Toxic[] = [], enabled = true): Proxy {
    const p: Proxy = { name, listen: '127.0.0.1:26379', upstream: 'redis:6379', enabled, toxics };
    this.proxies.set(name, p);
    return p;
  }

  private browser(req: Recorded): Reply | undefined {
    return String(req.headers['user-agent'] ?? '').startsWith('Mozilla/') ? error(403, 'User agent not allowed') : undefined;
  }

  private install(): void {
    this.server
      .route('GET', '/version', () => ({ status: 200, body: '2.9.0' }))
      .route('GET', '/proxies', (req) => this.browser(req) ?? { status: 200, body: Object.fromEntries(this.proxies) })
      .route('GET', '/proxies/:proxy', (req) => {
        const p = this.proxies.get(req.params.proxy!);
        return this.browser(req) ?? (p ? { status: 200, body: p } : error(404, 'proxy not found'));
      })
      .route('POST', '/proxies/:proxy/toxics', (req) => {
        const denied = this.browser(req);
        if (denied) return denied;
        const p = this.proxies.get(req.params.proxy!);
        if (!p) return error(404, 'proxy not found');
        const t = JSON.parse(req.body) as Toxic;
        if (!TYPES.has(t.type)) return error(400, 'invalid toxic type');
        if (p.toxics.some((x) => x.name === t.name)) return error(409, 'toxic already exists');
        const toxic: Toxic = { name: t.name, type: t.type, stream: t.stream ?? 'downstream', toxicity: t.toxicity ?? 1, attributes: t.attributes ?? {} };
        p.toxics.push(toxic);
        return { status: 200, body: toxic };
      })
      .route('GET', '/proxies/:proxy/toxics/:toxic', (req) => {
        const t = this.proxies.get(req.params.proxy!)?.toxics.find((x) => x.name === req.params.toxic);
        return t ? { status: 200, body: t } : error(404, 'toxic not found');
      })
      // Toxiproxy README: "POST /proxies/{proxy}/toxics/{toxic} - Update an active toxic" (toxicity, attributes).
      .route('POST', '/proxies/:proxy/toxics/:toxic', (req) => {
        const denied = this.browser(req);
        if (denied) return denied;
        const t = this.proxies.get(req.params.proxy!)?.toxics.find((x) => x.name === req.params.toxic);
        if (!t) return error(404, 'toxic not found');
        const body = JSON.parse(req.body) as Partial<Toxic>;
        if (body.toxicity !== undefined) t.toxicity = body.toxicity;
        if (body.attributes !== undefined) t.attributes = { ...t.attributes, ...body.attributes };
        return { status: 200, body: t };
      })
      .route('DELETE', '/proxies/:proxy/toxics/:toxic', (req) => {
        const p = this.proxies.get(req.params.proxy!);
        if (!p) return error(404, 'proxy not found');
        const i = p.toxics.findIndex((x) => x.name === req.params.toxic);
        if (i < 0) return error(404, 'toxic not found');
        p.toxics.splice(i, 1);
        return { status: 204 };
      });
  }
}
