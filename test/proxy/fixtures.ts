/** Shared pieces of the proxy tests: finding users per group, talking to the admin API. */
import { assignGroup, type Group, splitFromPercents } from '../../src/proxy/groups.ts';
import { parsePromText, type PromSample } from './prom-text.ts';

/** The first `user-N` the proxy puts in `group` with the given shares (default 5/5). */
export function userIn(group: Group, controlPercent = 5, experimentPercent = 5, skip = 0): string {
  const split = splitFromPercents(controlPercent, experimentPercent);
  let seen = 0;
  for (let i = 0; i < 1_000_000; i++) {
    const user = `user-${i}`;
    if (assignGroup(user, split) === group && seen++ === skip) return user;
  }
  throw new Error(`no user in ${group}`);
}

/** A JSON answer; the body is whatever the server sent, read by the test. */
export interface JsonAnswer {
  status: number;
  body: any;
}

export async function postJson(url: string, body: unknown): Promise<JsonAnswer> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export async function getJson(url: string): Promise<JsonAnswer> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export async function metrics(adminUrl: string): Promise<PromSample[]> {
  const res = await fetch(`${adminUrl}/metrics`);
  return parsePromText(await res.text());
}

export function inSeconds(ms: number): string {
  return new Date(Date.now() + ms).toISOString();
}

/** One GET through the proxy as `user`; resolves with status and elapsed ms, or 'error' when the connection died. */
export async function timedGet(url: string, user?: string, headers: Record<string, string> = {}): Promise<{ status: number | 'error'; ms: number; body: string }> {
  const started = performance.now();
  try {
    const res = await fetch(url, { headers: { ...(user ? { 'x-user-id': user } : {}), ...headers } });
    const body = await res.text();
    return { status: res.status, ms: performance.now() - started, body };
  } catch {
    return { status: 'error', ms: performance.now() - started, body: '' };
  }
}
