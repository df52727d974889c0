/**
 * The proxy's `route` label: which configured path pattern a request matched,
 * so a spec can judge one critical user journey (`route="/checkout"`) rather
 * than the whole service. Patterns are the same globs as a window's `paths`
 * (`*` matches any run of characters, slashes included); the label value is
 * the pattern as written. A path no pattern matches is `other`, so a client
 * sending random paths cannot add series: the label has at most
 * MAX_ROUTES + 1 values.
 *
 * Cheap per request: exact patterns are one Map lookup, globs are compiled
 * once, and the answer for a path is memoised (bounded; see routeOf).
 */
import { globToRegExp } from './window-schema.ts';

export const OTHER_ROUTE = 'other';
/** Every route is a series per group, method and code: the bound on the label's cardinality. */
export const MAX_ROUTES = 50;
/** Distinct paths whose route is memoised; beyond it, new paths are matched each time (still bounded work). */
const MEMO_LIMIT = 10_000;

/** Printable ASCII starting with "/", no quote, backslash or whitespace: safe in a label and in a PromQL string. */
const PATTERN_RE = /^\/[\x21-\x7e]*$/;

/** Why `pattern` is not a usable route pattern, or undefined. */
export function routePatternProblem(pattern: string): string | undefined {
  if (pattern.length > 200) return 'must be at most 200 characters';
  if (!PATTERN_RE.test(pattern) || /["\\]/.test(pattern)) {
    return 'must be a path starting with "/" (printable ASCII, no spaces, quotes or backslashes; "*" matches any run of characters)';
  }
  return undefined;
}

export type RouteOf = (path: string) => string;

/**
 * `routeOf(path)` for the given patterns: an exact pattern wins, then the
 * first glob in the order given, else `other`. Throws on a bad pattern (the
 * options schema checks them first, with the flag's name).
 */
export function createRouteMatcher(patterns: readonly string[]): RouteOf {
  if (patterns.length === 0) return () => OTHER_ROUTE;
  if (patterns.length > MAX_ROUTES) throw new Error(`at most ${MAX_ROUTES} routes`);
  const exact = new Map<string, string>();
  const globs: { re: RegExp; label: string }[] = [];
  for (const p of patterns) {
    const problem = routePatternProblem(p);
    if (problem) throw new Error(`route "${p}" ${problem}`);
    if (p.includes('*')) globs.push({ re: globToRegExp(p), label: p });
    else exact.set(p, p);
  }
  const memo = new Map<string, string>();
  return (path) => {
    const hit = exact.get(path) ?? memo.get(path);
    if (hit !== undefined) return hit;
    let label = OTHER_ROUTE;
    for (const g of globs) {
      if (g.re.test(path)) {
        label = g.label;
        break;
      }
    }
    // Not cleared when full (unlike the group memo): the paths seen first are the service's real ones,
    // and a flood of random paths then costs a few regex tests each, not a growing map.
    if (memo.size < MEMO_LIMIT) memo.set(path, label);
    return label;
  };
}
