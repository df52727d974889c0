/**
 * The typed syntax tree of the PromQL subset the scrape source evaluates.
 * Built from the official lezer grammar's tree by ./promql-parse.ts; every
 * node carries the PromQL type of its value, checked when it is built.
 */
import type { LabelMatcher } from './tsdb.ts';

export type ValueType = 'scalar' | 'vector' | 'matrix';

export const RATE_FUNCTIONS = ['rate', 'increase', 'delta'] as const;
export type RateFunction = (typeof RATE_FUNCTIONS)[number];

export const AGGREGATIONS = ['sum', 'avg', 'min', 'max', 'count', 'group'] as const;
export type AggregationOp = (typeof AGGREGATIONS)[number];

export const ARITHMETIC_OPS = ['+', '-', '*', '/'] as const;
export const COMPARISON_OPS = ['==', '!=', '>', '<', '>=', '<='] as const;
export const SET_OPS = ['and', 'or', 'unless'] as const;
export type ArithmeticOp = (typeof ARITHMETIC_OPS)[number];
export type ComparisonOp = (typeof COMPARISON_OPS)[number];
export type SetOp = (typeof SET_OPS)[number];
export type BinaryOp = ArithmeticOp | ComparisonOp | SetOp;

export interface NumberLiteral {
  kind: 'number';
  type: 'scalar';
  value: number;
}

export interface VectorSelector {
  kind: 'vectorSelector';
  type: 'vector';
  /** The metric name when written as an identifier (also present as a matcher). */
  name: string | undefined;
  matchers: LabelMatcher[];
  offsetMs: number;
}

export interface MatrixSelector {
  kind: 'matrixSelector';
  type: 'matrix';
  selector: VectorSelector;
  rangeMs: number;
}

export interface RateCall {
  kind: 'rate';
  type: 'vector';
  fn: RateFunction;
  arg: MatrixSelector;
}

export interface HistogramQuantileCall {
  kind: 'histogramQuantile';
  type: 'vector';
  quantile: Expr;
  buckets: Expr;
}

export interface VectorCall {
  kind: 'vectorFn';
  type: 'vector';
  arg: Expr;
}

export interface Aggregation {
  kind: 'aggregate';
  type: 'vector';
  op: AggregationOp;
  /** `by (…)` keeps these labels; `without (…)` drops them (and the metric name). */
  grouping: string[];
  without: boolean;
  expr: Expr;
}

export interface VectorMatching {
  /** true: `on(labels)`; false: `ignoring(labels)` (no clause = ignoring nothing). */
  on: boolean;
  labels: string[];
}

export interface BinaryExpr {
  kind: 'binary';
  type: 'scalar' | 'vector';
  op: BinaryOp;
  lhs: Expr;
  rhs: Expr;
  /** The `bool` modifier of a comparison. */
  returnBool: boolean;
  matching: VectorMatching;
}

export interface UnaryExpr {
  kind: 'unary';
  type: 'scalar' | 'vector';
  op: '-' | '+';
  expr: Expr;
}

export type Expr =
  | NumberLiteral
  | VectorSelector
  | MatrixSelector
  | RateCall
  | HistogramQuantileCall
  | VectorCall
  | Aggregation
  | BinaryExpr
  | UnaryExpr;
