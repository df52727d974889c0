/**
 * One query for both groups: a steady-state query written for one group (`{group="$group"}`) is
 * rewritten to select both groups at once and keep them apart by their label, so a look costs one
 * query per metric instead of two (ADR 017).
 *
 *   sum(rate(x{group="$group"}[15s]))  →  sum by (group) (rate(x{group=~"control|experiment"}[15s]))
 *
 * The rewrite is only made where it provably gives each group the series its own query would:
 *   - every selector names the group label with `=` and a value built from `$group`, the same label
 *     everywhere, and `$group` appears nowhere else;
 *   - every aggregation keeps the label (`by` gains it; `without` must not drop it);
 *   - vector matching keeps it (`on` gains it; `ignoring` must not drop it; no group_left/right);
 *   - no function that makes or rewrites labels (vector, scalar, absent, label_replace, label_join…)
 *     and no aggregation that picks series across a group (topk, bottomk, count_values, limitk…).
 * Everything else answers why not, and the engine asks once per group as before.
 */
import { parser } from '@prometheus-io/lezer-promql';

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

export type Group = 'control' | 'experiment';

export interface GroupedQuery {
  /** The query for both groups. */
  query: string;
  /** The label whose value tells the groups apart. */
  label: string;
  /** That label's value in each group's series. */
  values: Record<Group, string>;
}

export type GroupSplit = { ok: true; grouped: GroupedQuery } | { ok: false; reason: string };

/** Stands in for the group's value while the query is read; no PromQL or regex meaning. */
const SENTINEL = 'zzsteadystategroupzz';

const LABEL_MAKING_FUNCTIONS = new Set(['vector', 'scalar', 'absent', 'absent_over_time', 'label_replace', 'label_join', 'info']);
const CROSS_SERIES_AGGREGATIONS = new Set(['topk', 'bottomk', 'count_values', 'limitk', 'limit_ratio']);

/**
 * Rewrite `template` (with `$group` still in it) for both groups. `render(groupValue)` renders the
 * template with every other variable filled and `$group` set to the value given.
 */
export function groupedQuery(render: (groupValue: string) => string, groups: Record<Group, string>): GroupSplit {
  if (groups.control === groups.experiment) return { ok: false, reason: 'both groups have the same value' };
  const text = render(SENTINEL);
  if (!text.includes(SENTINEL)) return { ok: false, reason: 'the query does not use $group' };
  const tree = parser.parse(text);
  let bad: string | undefined;
  tree.iterate({
    enter: (n) => {
      if (n.type.isError) bad ??= 'the query does not parse as PromQL';
    },
  });
  if (bad) return { ok: false, reason: bad };

  const edits: { from: number; to: number; insert: string }[] = [];
  let label: string | undefined;
  let valueTemplate: string | undefined;
  let sentinelsHandled = 0;
  const slice = (n: SyntaxNode): string => text.slice(n.from, n.to);
  const fail = (reason: string): GroupSplit => ({ ok: false, reason });

  const cursor = tree.cursor();
  const nodes: SyntaxNode[] = [];
  do nodes.push(cursor.node);
  while (cursor.next());

  for (const node of nodes) {
    switch (node.name) {
      case 'VectorSelector': {
        if (!slice(node).includes(SENTINEL)) return fail(`the selector ${slice(node)} does not select by $group`);
        break;
      }
      case 'UnquotedLabelMatcher': {
        const literal = node.getChild('StringLiteral');
        if (!literal || !slice(literal).includes(SENTINEL)) break;
        const name = slice(node.getChild('LabelName')!);
        const op = node.getChild('MatchOp')?.firstChild?.name;
        if (op !== 'EqlSingle') return fail(`$group is matched with ${slice(node.getChild('MatchOp')!)}, not =`);
        const value = unquote(slice(literal));
        if (value === undefined) return fail(`cannot read the label value ${slice(literal)}`);
        if (label !== undefined && (label !== name || valueTemplate !== value)) return fail('$group is matched on more than one label or value');
        label = name;
        valueTemplate = value;
        sentinelsHandled += count(slice(node), SENTINEL);
        edits.push({ from: node.from, to: node.to, insert: '' }); // filled in once the values are known
        break;
      }
      case 'FunctionIdentifier': {
        const fn = slice(node);
        if (LABEL_MAKING_FUNCTIONS.has(fn)) return fail(`${fn}() makes or rewrites labels`);
        break;
      }
      case 'AggregateExpr': {
        const op = slice(node.getChild('AggregateOp')!);
        if (CROSS_SERIES_AGGREGATIONS.has(op)) return fail(`${op} picks series across the groups`);
        break;
      }
      case 'MatchingModifierClause': {
        if (node.getChild('GroupLeft') || node.getChild('GroupRight')) return fail('group_left/group_right matching');
        break;
      }
      default:
    }
  }
  if (label === undefined || valueTemplate === undefined) return fail('$group is not a label value of the selectors');
  if (sentinelsHandled !== count(text, SENTINEL)) return fail('$group appears outside a label matcher');

  const values = { control: valueTemplate.split(SENTINEL).join(groups.control), experiment: valueTemplate.split(SENTINEL).join(groups.experiment) };
  if (values.control === values.experiment) return fail('both groups render the same label value');
  const matcher = `${label}=~${JSON.stringify(`${regexEscape(values.control)}|${regexEscape(values.experiment)}`)}`;
  for (const e of edits) e.insert = matcher;

  // Keep the label through every aggregation and vector match.
  for (const node of nodes) {
    if (node.name === 'AggregateExpr') {
      const modifier = node.getChild('AggregateModifier');
      if (!modifier) {
        const op = node.getChild('AggregateOp')!;
        edits.push({ from: op.to, to: op.to, insert: ` by (${label}) ` });
        continue;
      }
      const labels = modifier.getChild('GroupingLabels');
      const names = labels ? labels.getChildren('LabelName').map(slice) : [];
      if (modifier.getChild('Without')) {
        if (names.includes(label)) return fail(`without (${label}) drops the group label`);
      } else if (labels && !names.includes(label)) {
        edits.push(addLabel(labels, names, label));
      }
    } else if (node.name === 'MatchingModifierClause') {
      const labels = node.getChild('GroupingLabels');
      const names = labels ? labels.getChildren('LabelName').map(slice) : [];
      if (node.getChild('Ignoring')) {
        if (names.includes(label)) return fail(`ignoring (${label}) drops the group label`);
      } else if (node.getChild('On') && labels && !names.includes(label)) {
        edits.push(addLabel(labels, names, label));
      }
    }
  }

  let query = text;
  for (const e of [...edits].sort((a, b) => b.from - a.from)) query = query.slice(0, e.from) + e.insert + query.slice(e.to);
  return { ok: true, grouped: { query, label, values } };
}

/** `(a, b)` → `(a, b, label)`; `()` → `(label)`. */
function addLabel(labels: SyntaxNode, names: string[], label: string): { from: number; to: number; insert: string } {
  const close = labels.to - 1; // the `)`
  return { from: close, to: close, insert: names.length === 0 ? label : `, ${label}` };
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/** A PromQL string literal's value: double-quoted (Go escapes, as JSON reads them), single-quoted or raw. */
function unquote(literal: string): string | undefined {
  const quote = literal[0];
  const body = literal.slice(1, -1);
  if (quote === '`') return body;
  if (quote === "'") return body.includes('\\') ? undefined : body;
  try {
    return JSON.parse(literal) as string;
  } catch {
    return undefined;
  }
}

/** RE2 (Prometheus matches regexes fully anchored): every metacharacter escaped. */
function regexEscape(value: string): string {
  return value.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}
