/**
 * A counter rate read over a shorter range window: the KPI guardrail's own
 * view of a steady-state metric (ADR 026).
 *
 *   sum(rate(x{group="$group"}[15s]))  →  sum(rate(x{group="$group"}[2s]))
 *
 * A 15 s window at a 1 s step spreads a sudden drop over 15 steps: each new
 * step holds one more second of it. The same counter read over 2 s windows
 * holds the drop within 2 steps, and the guardrail's test halts a big harm
 * several looks sooner. Whether the scrape interval allows the shorter window
 * is not read from the query: the engine tries it on the history before the
 * window (preflight) and keeps it only where it answers at (nearly) every step.
 *
 * The rewrite is made only where the window is the span of events counted:
 * every range selector is the argument of `rate` or `increase` (not `irate`,
 * which reads the last two samples whatever the window; not a subquery), and
 * template variables appear only inside label values.
 */
import { parser } from '@prometheus-io/lezer-promql';
import { formatDuration, parseDuration } from '../lib/duration.ts';

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

export type Rewindowed = { ok: true; query: string } | { ok: false; reason: string };

const WINDOW_FUNCTIONS = new Set(['rate', 'increase']);

/** `template` with every range window set to `windowMs`, which must be shorter than each. */
export function withRangeWindow(template: string, windowMs: number): Rewindowed {
  // Variables become same-length placeholders, so positions in the parsed text are positions in the template.
  const text = template.replace(/\$\{?\w+\}?/g, (v) => 'x'.repeat(v.length));
  const tree = parser.parse(text);
  const edits: { from: number; to: number }[] = [];
  let reason: string | undefined;
  tree.iterate({
    enter: (ref) => {
      if (reason) return false;
      const node = ref.node;
      if (node.type.isError) reason = 'the query does not parse as PromQL (template variables outside label values?)';
      else if (node.name === 'SubqueryExpr') reason = 'it has a subquery';
      else if (node.name === 'MatrixSelector') {
        const fn = enclosingFunction(node, text);
        const duration = node.getChild('DurationExpr');
        const ms = duration ? parseDuration(text.slice(duration.from, duration.to)) : undefined;
        if (!fn || !WINDOW_FUNCTIONS.has(fn)) reason = `a range window is read by ${fn ? `${fn}()` : 'no function'}, not rate() or increase()`;
        else if (!duration || ms === undefined) reason = 'a range window is not a plain duration';
        else if (ms <= windowMs) reason = `its ${formatDuration(ms)} window is not longer than ${formatDuration(windowMs)}`;
        else edits.push({ from: duration.from, to: duration.to });
        return false;
      }
      return undefined;
    },
  });
  if (reason) return { ok: false, reason };
  if (edits.length === 0) return { ok: false, reason: 'it has no range window' };
  let query = template;
  for (const { from, to } of edits.sort((a, b) => b.from - a.from)) query = query.slice(0, from) + formatDuration(windowMs) + query.slice(to);
  return { ok: true, query };
}

/** The function whose argument a range selector is (through `offset`/`@` and parentheses). */
function enclosingFunction(matrix: SyntaxNode, text: string): string | undefined {
  let node: SyntaxNode | null = matrix.parent;
  while (node && (node.name === 'OffsetExpr' || node.name === 'StepInvariantExpr' || node.name === 'ParenExpr')) node = node.parent;
  if (node?.name !== 'FunctionCallBody') return undefined;
  const call = node.parent;
  const id = call?.name === 'FunctionCall' ? call.getChild('FunctionIdentifier') : null;
  return id ? text.slice(id.from, id.to) : undefined;
}
