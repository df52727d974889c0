/**
 * Steady-state queries for both groups at once. Where the source speaks PromQL and the query can be
 * rewritten soundly (src/queries/group-split.ts), one query `by (group)` answers for both groups;
 * elsewhere each group is asked on its own, at the same time. Either way the caller gets, per group,
 * the query that group's own query would be, its samples, and how many series came back.
 */
import { NoDataError } from '../lib/errors.ts';
import type { MetricSource, QueryResult, Sample, TimeRange } from '../metric-sources/types.ts';
import { groupedQuery, type GroupSplit } from '../queries/group-split.ts';
import type { Experiment } from '../spec/schema.ts';
import { renderQuery, type TemplateVariable } from '../spec/template.ts';
import type { Group } from './types.ts';

type Metric = Experiment['spec']['steadyState'][number];

export interface GroupAnswer {
  /** The group's own query (what the grouped query stands in for). */
  query: string;
  /** Series of the group in the answer: 1 is what a steady-state metric must give; 0 is no data. */
  seriesCount: number;
  /** The samples of the group's one series; empty unless seriesCount is 1. */
  samples: Sample[];
}

export type BothGroups = Record<Group, GroupAnswer>;

const GROUPS: readonly Group[] = ['control', 'experiment'];

/**
 * Why a metric is or is not collected with one query per look (for validate and the run's events).
 * `groupsByLabel` is the source's say (MetricSource.groupsByLabel): only PromQL with labels kept.
 */
export function collectionPlan(
  spec: Experiment['spec'],
  metric: Metric,
  vars: (group: Group) => Partial<Record<TemplateVariable, string>>,
  groupsByLabel: boolean,
): GroupSplit {
  if (!groupsByLabel) return { ok: false, reason: `the ${spec.source.kind} source is asked once per group` };
  return groupedQuery((value) => renderQuery(metric.query, { ...vars('control'), group: value }), spec.groups);
}

export class GroupQueries {
  private readonly plans = new Map<string, GroupSplit>();

  constructor(
    private readonly spec: Experiment['spec'],
    private readonly source: MetricSource,
    private readonly vars: (group: Group) => Partial<Record<TemplateVariable, string>>,
  ) {}

  plan(metric: Metric): GroupSplit {
    let plan = this.plans.get(metric.name);
    if (!plan) {
      plan = collectionPlan(this.spec, metric, this.vars, this.source.groupsByLabel === true);
      this.plans.set(metric.name, plan);
    }
    return plan;
  }

  /** Both groups' answers over `range`. NoDataError becomes seriesCount 0; other errors are thrown. */
  async both(metric: Metric, range: TimeRange, signal?: AbortSignal): Promise<BothGroups> {
    const queries = { control: renderQuery(metric.query, this.vars('control')), experiment: renderQuery(metric.query, this.vars('experiment')) };
    const plan = this.plan(metric);
    if (plan.ok) {
      const { label, values } = plan.grouped;
      const result = await this.ask(plan.grouped.query, range, signal);
      const answer = (group: Group): GroupAnswer => {
        // A group without a finite point is no data, as the group's own query would throw NoDataError.
        const series = result.series.filter((s) => s.labels[label] === values[group] && s.samples.length > 0);
        return { query: queries[group], seriesCount: series.length, samples: series.length === 1 ? (series[0]?.samples ?? []) : [] };
      };
      return { control: answer('control'), experiment: answer('experiment') };
    }
    const [control, experiment] = await Promise.all(
      GROUPS.map(async (group): Promise<GroupAnswer> => {
        const result = await this.ask(queries[group], range, signal);
        return { query: queries[group], seriesCount: result.series.length, samples: result.series.length === 1 ? (result.series[0]?.samples ?? []) : [] };
      }),
    );
    return { control: control!, experiment: experiment! };
  }

  private async ask(query: string, range: TimeRange, signal?: AbortSignal): Promise<QueryResult> {
    try {
      return await this.source.queryRange(query, range, signal);
    } catch (err) {
      if (err instanceof NoDataError) return { series: [], warnings: [] };
      throw err;
    }
  }
}
