/**
 * Limits on the shape of request input, checked before anything recursive
 * touches it. A JSON or YAML body nested 20,000 deep overflows the stack of
 * JSON.stringify and of the YAML lexer (the latter takes the process down), and
 * a NUL byte in a string is refused by PostgreSQL: each is the client's
 * mistake, so each is a 400 that names the limit, never a 5xx.
 */
import { AppError } from '../lib/errors.ts';

/** Deeper than any spec needs (a spec is about 6 levels deep; params a few more). */
export const MAX_NESTING = 64;

export class BodyShapeError extends AppError {
  constructor(message: string) {
    super(message, { code: 'invalid_input', httpStatus: 400 });
  }
}

export const tooDeep = (): BodyShapeError =>
  new BodyShapeError(`the body is nested deeper than ${MAX_NESTING} levels; flatten it (the limit is ${MAX_NESTING})`);

/** Exact nesting depth of JSON text (brackets outside strings); stops counting past the limit. */
export function jsonTextTooDeep(text: string): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_NESTING) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * An upper estimate of YAML nesting, from the text alone: per line, the block
 * levels (a stack of increasing indentations, plus compact `- ` / `? `
 * entries at the line's start) and the flow brackets open so far outside
 * quotes and comments. It over-counts only for oddities (unbalanced brackets
 * in plain scalars, block scalars indented 64 times), never under-counts.
 */
export function yamlTextTooDeep(text: string): boolean {
  const indents: number[] = [];
  let flow = 0;
  for (const line of text.split('\n')) {
    const body = line.trimStart();
    if (body === '' || body.startsWith('#')) continue;
    const indent = line.length - body.length;
    while (indents.length > 0 && (indents[indents.length - 1] as number) >= indent) indents.pop();
    indents.push(indent);
    const compact = /^(?:[-?](?:[ \t]+|$))*/.exec(body)?.[0] ?? '';
    const entries = (compact.match(/[-?]/g) ?? []).length;
    let quote = '';
    for (let i = compact.length; i < body.length; i++) {
      const ch = body[i];
      if (quote) {
        if (ch === quote) quote = '';
        else if (ch === '\\' && quote === '"') i++;
      } else if (ch === '"' || ch === "'") quote = ch;
      else if (ch === '#' && (i === 0 || /\s/.test(body[i - 1] ?? ''))) break;
      else if (ch === '[' || ch === '{') flow++;
      else if (ch === ']' || ch === '}') flow = Math.max(0, flow - 1);
      if (indents.length + entries + flow > MAX_NESTING) return true;
    }
    if (indents.length + entries + flow > MAX_NESTING) return true;
  }
  return false;
}

/**
 * Walks a parsed value without recursion: refuses nesting past the limit and
 * NUL characters in strings and keys (PostgreSQL's text and jsonb cannot hold them).
 */
export function checkParsedValue(value: unknown): void {
  const stack: [unknown, number][] = [[value, 0]];
  let visited = 0;
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    // Aliases can make a YAML document a DAG with many paths to one node: cap the walk.
    if (++visited > 1_000_000) throw new BodyShapeError('the body has more than 1,000,000 values');
    if (typeof v === 'string') {
      if (v.includes('\u0000')) throw new BodyShapeError('the body contains a NUL character (\\u0000) in a string; remove it');
    } else if (v !== null && typeof v === 'object') {
      if (depth >= MAX_NESTING) throw tooDeep();
      for (const [k, child] of Object.entries(v)) {
        if (k.includes('\u0000')) throw new BodyShapeError('the body contains a NUL character (\\u0000) in a key; remove it');
        stack.push([child, depth + 1]);
      }
    }
  }
}
