/**
 * Forwarding one request to the upstream: undici's `dispatch` on a keep-alive
 * pool, the client's body streamed up and the upstream's body streamed back
 * with backpressure, no retries (a chaos proxy must not retry the 503s it is
 * asked to inject), every upstream failure a 502.
 *
 * Why not @fastify/reply-from or `http.request`: profiling `steadystate proxy`
 * put most of its time in fastify's routing and hooks and reply-from's header
 * objects and streams, and `dispatch` skips the IncomingMessage/stream layers
 * `http.request` builds per response. One pass over the client's raw headers
 * strips hop-by-hop headers, sets Host to the upstream's, overwrites the
 * group header and finds the sticky key.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { type Dispatcher, Pool } from 'undici';
import { GROUP_HEADER } from './groups.ts';

/** Request headers a proxy must not pass on (RFC 9110 §7.6.1), plus ones undici sets itself or refuses. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'http2-settings',
  'host',
  'expect',
  GROUP_HEADER,
]);

/** Response headers not copied back: the client connection has its own framing and keep-alive. */
const RESPONSE_HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'trailer'];

/** The client request, read once: what the proxy forwards and what it decides on. */
export interface ParsedRequest {
  /** Headers for the upstream, as a flat [name, value, …] list, without the group header (added per request). */
  headers: string[];
  /** The sticky header's value, '' when absent; repeated headers joined with ', ' as node:http does. */
  stickyValue: string;
  hasBody: boolean;
}

/** `stickyHeader` lower-cased, or undefined. Connection-listed names are stripped too (RFC 9110 §7.6.1). */
export function parseRequest(req: IncomingMessage, host: string, stickyHeader: string | undefined): ParsedRequest {
  const raw = req.rawHeaders;
  const headers: string[] = ['host', host];
  let stickyValue = '';
  let hasBody = false;
  let connectionListed: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    if (name === stickyHeader) stickyValue = stickyValue === '' ? value : `${stickyValue}, ${value}`;
    if (name === 'content-length') hasBody ||= value !== '0';
    else if (name === 'transfer-encoding') hasBody = true;
    else if (name === 'connection') (connectionListed ??= []).push(...value.toLowerCase().split(',').map((t) => t.trim()));
    if (HOP_BY_HOP.has(name)) {
      // `te: trailers` is the one TE value that may pass (what reply-from and node's http2 allow).
      if (name !== 'te' || value.trim().toLowerCase() !== 'trailers') continue;
    }
    headers.push(name, value);
  }
  if (connectionListed !== undefined) {
    const drop = new Set(connectionListed.filter((n) => n !== '' && n !== GROUP_HEADER && n !== 'host'));
    for (let i = headers.length - 2; i >= 2; i -= 2) if (drop.has(headers[i] as string)) headers.splice(i, 2);
  }
  return { headers, stickyValue, hasBody };
}

export interface Forwarder {
  /** Sends `req` upstream with `headers` (from parseRequest) and streams the answer into `res`; `onError` answers when the upstream fails. */
  forward(req: IncomingMessage, res: ServerResponse, headers: string[], hasBody: boolean, onError: (err: Error) => void): void;
  /** The upstream's Host value. */
  readonly host: string;
  close(): Promise<void>;
}

export function createForwarder(upstream: string): Forwarder {
  const origin = new URL(upstream);
  // 128 connections as reply-from had; pipelining off so one slow response never holds up another.
  const pool = new Pool(origin.origin, { connections: 128, pipelining: 1 });
  return {
    host: origin.host,
    forward(req, res, headers, hasBody, onError) {
      const handler = new ForwardHandler(res, onError);
      pool.dispatch(
        {
          path: req.url as string,
          method: req.method as Dispatcher.HttpMethod,
          headers,
          body: hasBody ? req : null,
        },
        handler,
      );
    },
    close: () => pool.close(),
  };
}

/** One forwarded request's life: a class so V8 keeps one shape for thousands of them. */
class ForwardHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private readonly res: ServerResponse;
  private readonly answerError: (err: Error) => void;
  private readonly onClientClose = (): void => {
    // The client left before the upstream finished: stop reading from the upstream too.
    if (!this.res.writableFinished) this.controller?.abort(new Error('client closed the connection'));
  };

  constructor(res: ServerResponse, onError: (err: Error) => void) {
    this.res = res;
    this.answerError = onError;
    res.once('close', this.onClientClose);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.res.destroyed) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    const connection = headers.connection;
    for (const name of RESPONSE_HOP_BY_HOP) delete headers[name];
    if (typeof connection === 'string') for (const token of connection.split(',')) delete headers[token.trim().toLowerCase()];
    this.res.writeHead(statusCode, headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.res.destroyed) return;
    if (this.res.headersSent) {
      // Mid-body: the status is gone, so the client learns of it by a cut connection.
      this.res.destroy(err);
      return;
    }
    this.answerError(err);
  }
}
