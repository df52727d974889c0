/** One JSON POST for an annotator: bounded by the caller's signal, errors redacted. */
import { redactText } from '../lib/redact.ts';
import { AnnotationError } from './types.ts';

export async function postJson(url: string, headers: Record<string, string>, body: unknown, what: string, signal: AbortSignal): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
      body: JSON.stringify(body),
      signal,
      redirect: 'error',
    });
  } catch (err) {
    throw new AnnotationError(`${what}: ${new URL(url).host} unreachable: ${redactText((err as Error).message)}`, { cause: err });
  }
  const text = await res.text();
  // Status, type and size only: an error body is not quoted into a run's timeline (docs/operations.md).
  if (!res.ok) throw new AnnotationError(`${what}: HTTP ${res.status} (${res.headers.get('content-type') ?? 'no content type'}, ${text.length} characters)`);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
