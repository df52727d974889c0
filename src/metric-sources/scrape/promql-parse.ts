/**
 * PromQL for the scrape source: parsed with the official grammar
 * (`@prometheus-io/lezer-promql`, the one Prometheus's own UI uses), then
 * turned into the typed tree of ./promql-ast.ts. That grammar is an editor's
 * grammar: it recovers from errors and accepts every construct of the newest
 * PromQL without checking types. So this file does what Prometheus's parser
 * does after the grammar — refuses syntax errors, checks types — and refuses,
 * by name, every construct outside the subset the evaluator implements.
 */
import { parser } from '@prometheus-io/lezer-promql';
import { TEMPLATE_VARIABLES, renderQuery } from '../../spec/template.ts';
import {
  AGGREGATIONS,
  ARITHMETIC_OPS,
  COMPARISON_OPS,
  RATE_FUNCTIONS,
  SET_OPS,
  type AggregationOp,
  type BinaryOp,
  type Expr,
  type MatrixSelector,
  type VectorSelector,
  type VectorMatching,
} from './promql-ast.ts';
import { METRIC_NAME, matches, type LabelMatcher, type MatchOp } from './tsdb.ts';

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

/** A query this source cannot evaluate: a syntax error, a type error, or a construct outside the subset. */
export class QueryParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryParseError';
  }
}

export const SUPPORTED_FUNCTIONS = [...RATE_FUNCTIONS, 'histogram_quantile', 'vector'] as const;

/** A short description of what the subset holds, for error messages. */
const SUBSET_HINT =
  'the scrape source evaluates: selectors with =, !=, =~, !~ matchers; range selectors; offset; ' +
  `${SUPPORTED_FUNCTIONS.join(', ')}; ${AGGREGATIONS.join(', ')} with by/without; ` +
  `${[...ARITHMETIC_OPS, ...COMPARISON_OPS, ...SET_OPS].join(' ')} with on/ignoring and bool; number literals`;

const BINARY_OP_NODES: Record<string, BinaryOp> = {
  Add: '+',
  Sub: '-',
  Mul: '*',
  Div: '/',
  Eql: '==',
  Neq: '!=',
  Gtr: '>',
  Lss: '<',
  Gte: '>=',
  Lte: '<=',
  And: 'and',
  Or: 'or',
  Unless: 'unless',
};
const UNSUPPORTED_OP_NODES: Record<string, string> = {
  Pow: '^',
  Mod: '%',
  Atan2: 'atan2',
  TrimUpper: '</',
  TrimLower: '>/',
};
const MATCH_OPS: Record<string, MatchOp> = { EqlSingle: '=', Neq: '!=', EqlRegex: '=~', NeqRegex: '!~' };

const DURATION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};
const DURATION_RE = /^(?:\d+(?:ms|[smhdwy]))+$/;
const DURATION_PART_RE = /(\d+)(ms|[smhdwy])/g;

/**
 * Why a Go (RE2) regex would not mean the same as a JavaScript one, or
 * undefined. Lookaround and backreferences are JavaScript-only (Prometheus
 * refuses them); POSIX classes and \A \z \p{…} \Q…\E are RE2-only
 * (JavaScript would silently read them as literal characters).
 */
export function regexIncompatibility(body: string): string | undefined {
  if (/\(\?(?:=|!|<=|<!)/.test(body)) return 'lookaround is not RE2 syntax';
  if (/\[:\^?[a-z]+:\]/.test(body)) return 'POSIX classes such as [[:alpha:]] are not supported (use [a-zA-Z])';
  for (let i = 0; i < body.length; i++) {
    if (body[i] !== '\\') continue;
    const e = body[i + 1] ?? '';
    i += 1;
    if (/[1-9]/.test(e) || e === 'k') return 'backreferences are not RE2 syntax';
    if (/[a-zA-Z0-9]/.test(e) && !/[dDwWsSbBnrtfv0x]/.test(e)) return `the escape \\${e} is not supported (RE2-only or invalid)`;
    if (e === 'x' && body[i + 1] === '{') return 'the escape \\x{…} is not supported (use \\xNN)';
  }
  return undefined;
}

function isComparison(op: BinaryOp): boolean {
  return (COMPARISON_OPS as readonly string[]).includes(op);
}
function isSetOp(op: BinaryOp): boolean {
  return (SET_OPS as readonly string[]).includes(op);
}

class Builder {
  constructor(private readonly query: string) {}

  text(node: SyntaxNode): string {
    return this.query.slice(node.from, node.to);
  }

  /** "at char 12 (`irate(x[1m])`)": where in the query, and what. */
  where(node: SyntaxNode): string {
    const snippet = this.text(node);
    const shown = snippet.length > 60 ? `${snippet.slice(0, 60)}…` : snippet;
    return `at char ${node.from + 1} (\`${shown}\`)`;
  }

  fail(node: SyntaxNode, message: string): never {
    throw new QueryParseError(`${message} ${this.where(node)}`);
  }

  unsupported(node: SyntaxNode, what: string): never {
    throw new QueryParseError(`${what} is not supported by the scrape source ${this.where(node)}; ${SUBSET_HINT}`);
  }

  children(node: SyntaxNode): SyntaxNode[] {
    const out: SyntaxNode[] = [];
    for (let c = node.firstChild; c; c = c.nextSibling) out.push(c);
    return out;
  }

  expr(node: SyntaxNode): Expr {
    switch (node.name) {
      case 'ParenExpr': {
        const [inner] = this.children(node);
        if (!inner) this.fail(node, 'empty parentheses');
        return this.expr(inner);
      }
      case 'NumberDurationLiteral':
        return { kind: 'number', type: 'scalar', value: this.number(node) };
      case 'StringLiteral':
        return this.unsupported(node, 'a string literal outside a label matcher');
      case 'VectorSelector':
        return this.vectorSelector(node, 0);
      case 'MatrixSelector':
        return this.matrixSelector(node, 0);
      case 'OffsetExpr':
        return this.offsetExpr(node);
      case 'FunctionCall':
        return this.functionCall(node);
      case 'AggregateExpr':
        return this.aggregate(node);
      case 'BinaryExpr':
        return this.binary(node);
      case 'UnaryExpr':
        return this.unary(node);
      case 'SubqueryExpr':
        return this.unsupported(node, 'a subquery (expr[range:resolution])');
      case 'StepInvariantExpr':
        return this.unsupported(node, 'the @ modifier');
      case 'AnchoredExpr':
        return this.unsupported(node, 'the anchored modifier');
      case 'SmoothedExpr':
        return this.unsupported(node, 'the smoothed modifier');
      default:
        return this.fail(node, `unexpected ${node.name}`);
    }
  }

  number(node: SyntaxNode): number {
    const text = this.text(node).trim();
    const m = /^([+-]?)\s*(.*)$/s.exec(text) as RegExpExecArray;
    const sign = m[1] === '-' ? -1 : 1;
    const body = m[2] as string;
    if (/^inf$/i.test(body)) return sign * Number.POSITIVE_INFINITY;
    if (/^nan$/i.test(body)) return Number.NaN;
    if (/^0x[0-9a-f]+$/i.test(body)) return sign * Number.parseInt(body.slice(2), 16);
    if (/^(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i.test(body)) return sign * Number(body);
    if (DURATION_RE.test(body)) return this.unsupported(node, `a duration (${body}) used as a number`);
    return this.fail(node, `"${body}" is not a number`);
  }

  durationMs(node: SyntaxNode, what: string): number {
    const kids = this.children(node);
    const only = kids.length === 1 ? kids[0] : undefined;
    if (!only || only.name !== 'NumberDurationLiteralInDurationContext') {
      return this.unsupported(node, `a computed ${what} (only a literal such as 5m is)`);
    }
    const text = this.text(only);
    if (!DURATION_RE.test(text)) return this.unsupported(node, `a ${what} without a unit (write e.g. 30s)`);
    let ms = 0;
    for (const p of text.matchAll(DURATION_PART_RE)) ms += Number(p[1]) * (DURATION_UNITS_MS[p[2] as string] as number);
    if (ms <= 0) this.fail(node, `${what} must be positive`);
    return ms;
  }

  vectorSelector(node: SyntaxNode, offsetMs: number): VectorSelector {
    let name: string | undefined;
    const matchers: LabelMatcher[] = [];
    for (const child of this.children(node)) {
      if (child.name === 'Identifier') {
        name = this.text(child);
        matchers.push({ name: METRIC_NAME, op: '=', value: name });
      } else if (child.name === 'LabelMatchers') {
        for (const m of this.children(child)) matchers.push(this.matcher(m));
      } else {
        this.fail(child, `unexpected ${child.name} in a selector`);
      }
    }
    if (name !== undefined && matchers.filter((m) => m.name === METRIC_NAME).length > 1) {
      this.fail(node, 'the metric name must not be set twice');
    }
    // Prometheus refuses selectors that would match every series.
    if (!matchers.some((m) => !matches(m, {}))) {
      this.fail(node, 'a vector selector must contain at least one matcher that does not match the empty string');
    }
    return { kind: 'vectorSelector', type: 'vector', name, matchers, offsetMs };
  }

  matcher(node: SyntaxNode): LabelMatcher {
    if (node.name !== 'UnquotedLabelMatcher') {
      return this.unsupported(node, 'a quoted label name (UTF-8 names)');
    }
    const [labelNode, opNode, valueNode] = this.children(node);
    if (!labelNode || !opNode || !valueNode) return this.fail(node, 'incomplete label matcher');
    const name = this.text(labelNode);
    const opName = opNode.firstChild?.name ?? '';
    const op = MATCH_OPS[opName];
    if (!op) return this.fail(opNode, 'unknown match operator');
    const value = this.stringLiteral(valueNode);
    if (op === '=~' || op === '!~') return { name, op, value, regex: this.regex(valueNode, value) };
    return { name, op, value };
  }

  /** Go regexp (RE2) as JavaScript, anchored like Prometheus: `^(?:re)$`. */
  regex(node: SyntaxNode, source: string): RegExp {
    let body = source;
    let flags = '';
    // RE2's leading flag group, e.g. (?i)foo: JavaScript has flags instead.
    // Only i and s mean the same in both once the pattern is wrapped in ^(?:…)$
    // (m would make the wrapping anchors multi-line in JavaScript, not in Go).
    const lead = /^\(\?([imsU]+)\)/.exec(body);
    if (lead) {
      for (const f of lead[1] as string) {
        if (f === 'i' || f === 's') flags += flags.includes(f) ? '' : f;
        else this.unsupported(node, `the regex flag ${f}`);
      }
      body = body.slice(lead[0].length);
    }
    const problem = regexIncompatibility(body);
    if (problem) this.fail(node, `the regex ${JSON.stringify(source)} is not supported by the scrape source: ${problem}`);
    // RE2 names groups (?P<name>…), JavaScript (?<name>…).
    body = body.replace(/\(\?P</g, '(?<');
    try {
      return new RegExp(`^(?:${body})$`, flags);
    } catch (err) {
      return this.fail(node, `the regex ${JSON.stringify(source)} is not supported by the scrape source: ${(err as Error).message}`);
    }
  }

  /** PromQL string literal: "…" and '…' with Go escapes, `…` raw. */
  stringLiteral(node: SyntaxNode): string {
    const raw = this.text(node);
    const quote = raw[0];
    if (raw.length < 2 || raw[raw.length - 1] !== quote) this.fail(node, 'unterminated string');
    const body = raw.slice(1, -1);
    if (quote === '`') return body;
    let out = '';
    for (let i = 0; i < body.length; i++) {
      const c = body[i] as string;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = body[++i];
      const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'" };
      if (e !== undefined && e in simple) {
        out += simple[e];
        continue;
      }
      const hex = (len: number): string => {
        const digits = body.slice(i + 1, i + 1 + len);
        if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(digits)) this.fail(node, `invalid escape \\${e}${digits}`);
        i += len;
        return digits;
      };
      if (e === 'x') out += String.fromCharCode(Number.parseInt(hex(2), 16));
      else if (e === 'u') out += String.fromCodePoint(Number.parseInt(hex(4), 16));
      else if (e === 'U') out += String.fromCodePoint(Number.parseInt(hex(8), 16));
      else if (e !== undefined && /[0-7]/.test(e)) {
        const digits = body.slice(i, i + 3);
        if (!/^[0-7]{3}$/.test(digits)) this.fail(node, `invalid octal escape \\${digits}`);
        out += String.fromCharCode(Number.parseInt(digits, 8));
        i += 2;
      } else this.fail(node, `invalid escape \\${e ?? ''}`);
    }
    return out;
  }

  matrixSelector(node: SyntaxNode, offsetMs: number): MatrixSelector {
    const [inner, duration] = this.children(node);
    if (!inner || !duration) return this.fail(node, 'incomplete range selector');
    if (inner.name !== 'VectorSelector') {
      if (inner.name === 'OffsetExpr') this.fail(node, 'offset must follow the range: write x[5m] offset 1m');
      return this.fail(node, 'a range can only follow a vector selector (subqueries are not supported)');
    }
    const rangeMs = this.durationMs(duration, 'range');
    return { kind: 'matrixSelector', type: 'matrix', selector: this.vectorSelector(inner, offsetMs), rangeMs };
  }

  offsetExpr(node: SyntaxNode): Expr {
    const [inner, , duration] = this.children(node);
    if (!inner || !duration) return this.fail(node, 'incomplete offset');
    const kids = this.children(duration);
    if (kids[0]?.name === 'UnaryOp') return this.unsupported(duration, 'a negative offset');
    return this.withOffset(inner, this.durationMs(duration, 'offset'));
  }

  /**
   * The grammar binds `offset` loosest (`a * x offset 1m` is read as
   * `(a * x) offset 1m`), while in PromQL it is a postfix of the selector
   * and binds tightest. So the offset goes down the right-hand spine to the
   * selector it belongs to; anywhere else it is an error, as in Prometheus.
   */
  withOffset(node: SyntaxNode, offsetMs: number): Expr {
    switch (node.name) {
      case 'VectorSelector':
        return this.vectorSelector(node, offsetMs);
      case 'MatrixSelector':
        return this.matrixSelector(node, offsetMs);
      case 'BinaryExpr':
        return this.binary(node, offsetMs);
      case 'UnaryExpr':
        return this.unary(node, offsetMs);
      case 'OffsetExpr':
        return this.fail(node, 'offset may not be set twice');
      default:
        return this.fail(node, 'offset must follow a selector (x offset 5m or x[1m] offset 5m)');
    }
  }

  args(body: SyntaxNode | null): Expr[] {
    return body ? this.children(body).map((c) => this.expr(c)) : [];
  }

  functionCall(node: SyntaxNode): Expr {
    const idNode = node.getChild('FunctionIdentifier');
    const body = node.getChild('FunctionCallBody');
    const fn = idNode ? this.text(idNode) : '';
    if (!(SUPPORTED_FUNCTIONS as readonly string[]).includes(fn)) {
      return this.unsupported(idNode ?? node, `the function ${fn}()`);
    }
    const args = this.args(body);
    const arity = fn === 'histogram_quantile' ? 2 : 1;
    if (args.length !== arity) this.fail(node, `${fn}() takes ${arity} argument${arity > 1 ? 's' : ''}, got ${args.length}`);
    if (fn === 'vector') {
      const arg = args[0] as Expr;
      if (arg.type !== 'scalar') this.fail(node, `vector() expects a scalar, got ${arg.type === 'matrix' ? 'a range vector' : 'an instant vector'}`);
      return { kind: 'vectorFn', type: 'vector', arg };
    }
    if (fn === 'histogram_quantile') {
      const [quantile, buckets] = args as [Expr, Expr];
      if (quantile.type !== 'scalar') this.fail(node, 'histogram_quantile() expects a scalar as its first argument');
      if (buckets.type !== 'vector') this.fail(node, 'histogram_quantile() expects an instant vector as its second argument');
      return { kind: 'histogramQuantile', type: 'vector', quantile, buckets };
    }
    const arg = args[0] as Expr;
    if (arg.kind !== 'matrixSelector') {
      this.fail(node, `${fn}() expects a range vector such as x[5m]${arg.type === 'vector' ? ', got an instant vector' : ''}`);
    }
    return { kind: 'rate', type: 'vector', fn: fn as (typeof RATE_FUNCTIONS)[number], arg };
  }

  groupingLabels(node: SyntaxNode): string[] {
    return this.children(node).map((c) => {
      if (c.name !== 'LabelName') this.unsupported(c, 'a quoted label name (UTF-8 names)');
      return this.text(c);
    });
  }

  aggregate(node: SyntaxNode): Expr {
    const opNode = node.getChild('AggregateOp');
    const op = opNode ? this.text(opNode) : '';
    if (!(AGGREGATIONS as readonly string[]).includes(op)) return this.unsupported(opNode ?? node, `the aggregation ${op}`);
    const modifier = node.getChild('AggregateModifier');
    let grouping: string[] = [];
    let without = false;
    if (modifier) {
      without = modifier.getChild('Without') !== null;
      const labels = modifier.getChild('GroupingLabels');
      grouping = labels ? this.groupingLabels(labels) : [];
    }
    const args = this.args(node.getChild('FunctionCallBody'));
    if (args.length !== 1) this.fail(node, `${op}() takes 1 argument, got ${args.length}`);
    const expr = args[0] as Expr;
    if (expr.type !== 'vector') this.fail(node, `${op}() expects an instant vector, got ${expr.type === 'matrix' ? 'a range vector' : 'a scalar'}`);
    return { kind: 'aggregate', type: 'vector', op: op as AggregationOp, grouping, without, expr };
  }

  /** `rhsOffsetMs`: an offset the grammar attached to the whole expression (see withOffset). */
  binary(node: SyntaxNode, rhsOffsetMs = 0): Expr {
    const kids = this.children(node);
    const lhsNode = kids[0];
    const rhsNode = kids[kids.length - 1];
    const opNode = kids[1];
    if (!lhsNode || !rhsNode || !opNode || kids.length < 3) return this.fail(node, 'incomplete binary expression');
    const unsupportedOp = UNSUPPORTED_OP_NODES[opNode.name];
    if (unsupportedOp) return this.unsupported(opNode, `the operator ${unsupportedOp}`);
    const op = BINARY_OP_NODES[opNode.name];
    if (!op) return this.fail(opNode, `unexpected operator ${opNode.name}`);
    let returnBool = false;
    const matching: VectorMatching = { on: false, labels: [] };
    let hasMatchingClause = false;
    for (const mod of kids.slice(2, -1)) {
      if (mod.name === 'BoolModifier') returnBool = true;
      else if (mod.name === 'MatchingModifierClause') {
        hasMatchingClause = true;
        if (mod.getChild('GroupLeft') || mod.getChild('GroupRight')) {
          this.unsupported(mod, 'group_left/group_right (many-to-one matching)');
        }
        matching.on = mod.getChild('On') !== null;
        const labels = mod.getChild('GroupingLabels');
        matching.labels = labels ? this.groupingLabels(labels) : [];
      } else if (mod.name === 'FillModifier') this.unsupported(mod, 'fill modifiers');
      else this.fail(mod, `unexpected ${mod.name}`);
    }
    const lhs = this.expr(lhsNode);
    const rhs = rhsOffsetMs > 0 ? this.withOffset(rhsNode, rhsOffsetMs) : this.expr(rhsNode);
    if (lhs.type === 'matrix' || rhs.type === 'matrix') {
      this.fail(node, 'binary expressions take only scalars and instant vectors (a range vector needs a function such as rate())');
    }
    const bothScalar = lhs.type === 'scalar' && rhs.type === 'scalar';
    if (returnBool && !isComparison(op)) this.fail(node, 'bool can only be used with comparison operators');
    if (isComparison(op) && bothScalar && !returnBool) this.fail(node, 'comparisons between scalars must use the bool modifier');
    if (isSetOp(op) && (lhs.type !== 'vector' || rhs.type !== 'vector')) {
      this.fail(node, `the set operator ${op} is only allowed between instant vectors`);
    }
    if (hasMatchingClause && (lhs.type !== 'vector' || rhs.type !== 'vector')) {
      this.fail(node, 'on/ignoring are only allowed between instant vectors');
    }
    return { kind: 'binary', type: bothScalar ? 'scalar' : 'vector', op, lhs, rhs, returnBool, matching };
  }

  unary(node: SyntaxNode, offsetMs = 0): Expr {
    const [opNode, inner] = this.children(node);
    if (!opNode || !inner) return this.fail(node, 'incomplete unary expression');
    const expr = offsetMs > 0 ? this.withOffset(inner, offsetMs) : this.expr(inner);
    if (expr.type === 'matrix') this.fail(node, 'unary minus/plus takes a scalar or an instant vector');
    const op = this.text(opNode) === '-' ? '-' : '+';
    // Fold -literal into the literal: Prometheus does the same.
    if (expr.kind === 'number') return { kind: 'number', type: 'scalar', value: op === '-' ? -expr.value : expr.value };
    return { kind: 'unary', type: expr.type, op, expr };
  }
}

/**
 * Parse `query` into the evaluator's tree. Throws QueryParseError with a
 * message naming the problem and where it is.
 */
export function parseScrapeQuery(query: string): Expr {
  if (query.trim() === '') throw new QueryParseError('the query is empty');
  const tree = parser.parse(query);
  let syntaxError: { from: number; to: number } | undefined;
  tree.iterate({
    enter(n) {
      if (syntaxError) return false;
      if (n.type.isError) {
        syntaxError = { from: n.from, to: n.to };
        return false;
      }
      return undefined;
    },
  });
  if (syntaxError) {
    const at = syntaxError.from;
    const near = query.slice(Math.max(0, at - 20), at + 20);
    throw new QueryParseError(`not valid PromQL: syntax error at char ${at + 1} (near \`${near}\`)`);
  }
  const top = tree.topNode;
  const b = new Builder(query);
  const kids = b.children(top);
  if (top.name !== 'PromQL' || kids.length !== 1) throw new QueryParseError('not valid PromQL: expected one expression');
  const expr = b.expr(kids[0] as SyntaxNode);
  if (expr.type === 'matrix') {
    throw new QueryParseError('a range vector cannot be graphed over time; wrap it in a function such as rate(…)');
  }
  return expr;
}

// A value that makes a template variable parse anywhere the spec may use one
// (label values, regexes, label and metric names).
const TEMPLATE_PLACEHOLDER = 'x';

/**
 * Whether the scrape source can evaluate `query`: undefined when it can, else
 * a message naming the unsupported construct or the error. Template variables
 * (`$group`, `${service}`, …) are replaced by a placeholder first, so a spec's
 * query templates can be checked before any group is known.
 */
export function validateScrapeQuery(query: string): string | undefined {
  const rendered = renderQuery(query, Object.fromEntries(TEMPLATE_VARIABLES.map((v) => [v, TEMPLATE_PLACEHOLDER])));
  try {
    parseScrapeQuery(rendered);
    return undefined;
  } catch (err) {
    if (err instanceof QueryParseError) return err.message;
    throw err;
  }
}
