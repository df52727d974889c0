/**
 * `steadystate get experiments|runs [NAME|ID]` (tables, or the API's JSON
 * with `--json`) and `steadystate describe run ID | experiment NAME` (one
 * object in full: a run with its metrics and events, an experiment with its
 * versions and spec source).
 */
import { Option, type Command } from 'commander';
import { ACTIVE_STATES, TERMINAL_STATES } from '../engine/types.ts';
import { formatDelta, formatInterval } from '../lib/format-units.ts';
import { NO_UNIT, type Unit } from '../lib/units.ts';
import { metricUnits } from '../reports/metric-text.ts';
import { CliFailure } from './client.ts';
import { EXIT_BAD_INPUT } from './exit-codes.ts';
import { connect, exitCodeOf, SERVER_HELP, streams, table, type CliIo } from './service-context.ts';

const KINDS: Record<string, 'experiments' | 'runs'> = { experiments: 'experiments', experiment: 'experiments', exp: 'experiments', runs: 'runs', run: 'runs' };

interface ExperimentView {
  name: string;
  version: number;
  createdAt: string;
  createdBy: string;
  format: string;
  spec: { metadata: { service?: string; environment?: string }; spec: { fault: { injector: string; duration: number | string } } };
  source: string;
}

interface RunRow {
  id: string;
  experiment: string;
  version?: number;
  actor?: string;
  state: string;
  verdict: string | null;
  reason: string;
  startedAt: string;
  endedAt: string | null;
}

export interface RunDetail extends RunRow {
  window?: { openedAt: string; deadline: string; closedAt?: string; closedBy?: string } | null;
  halt?: { guardrail: string; reason: string; at: string } | null;
  metrics: { name: string; verdict: string; reason: string; effect: number | null; ci: [number, number] | null; pValue: number | null }[];
  series?: unknown;
}

interface RunEvent {
  at: string;
  type: string;
  message: string;
}

const kindOf = (text: string): 'experiments' | 'runs' => {
  const kind = KINDS[text.toLowerCase()];
  if (!kind) throw new CliFailure(`"${text}" is not a kind; use experiments or runs`, EXIT_BAD_INPUT);
  return kind;
};

const time = (iso: string | null | undefined): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');
const experimentRow = (e: ExperimentView): string[] => [e.name, String(e.version), e.spec.metadata.service ?? '-', e.spec.metadata.environment ?? '-', e.spec.spec.fault.injector, time(e.createdAt), e.createdBy];
const runRow = (r: RunRow): string[] => [r.id, r.experiment, r.state, r.verdict ?? '-', time(r.startedAt), time(r.endedAt)];

export interface GetOptions {
  server?: string;
  json?: boolean;
  experiment?: string;
  state?: string;
  limit?: string;
}

export async function getCommand(kindText: string, name: string | undefined, opts: GetOptions, io: CliIo = {}): Promise<number> {
  return exitCodeOf('get', io, async () => {
    const { out } = streams(io);
    const kind = kindOf(kindText);
    if (opts.limit !== undefined && !/^[1-9]\d{0,2}$/.test(opts.limit)) throw new CliFailure(`--limit "${opts.limit}" must be an integer from 1 to 500`, EXIT_BAD_INPUT);
    if (kind === 'experiments' && (opts.state || opts.experiment || opts.limit)) {
      throw new CliFailure('--experiment, --state and --limit filter runs, not experiments', EXIT_BAD_INPUT);
    }
    const { client } = await connect(opts.server, io);
    if (kind === 'experiments') {
      const header = ['NAME', 'VERSION', 'SERVICE', 'ENVIRONMENT', 'INJECTOR', 'UPDATED', 'BY'];
      if (name !== undefined) {
        const body = await client.get<{ experiment: ExperimentView }>(`/api/v1/experiments/${encodeURIComponent(name)}`);
        out(opts.json ? `${JSON.stringify(body)}\n` : table(header, [experimentRow(body.experiment)]));
      } else {
        const body = await client.get<{ experiments: ExperimentView[] }>('/api/v1/experiments');
        out(opts.json ? `${JSON.stringify(body)}\n` : table(header, body.experiments.map(experimentRow)));
      }
      return 0;
    }
    const header = ['ID', 'EXPERIMENT', 'STATE', 'VERDICT', 'STARTED', 'ENDED'];
    if (name !== undefined) {
      const body = await client.get<{ run: RunDetail }>(`/api/v1/runs/${encodeURIComponent(name)}`);
      const { series: _series, ...run } = body.run;
      out(opts.json ? `${JSON.stringify({ run })}\n` : table(header, [runRow(run)]));
      return 0;
    }
    const query = new URLSearchParams();
    if (opts.experiment) query.set('experiment', opts.experiment);
    if (opts.state) query.set('state', opts.state);
    if (opts.limit) query.set('limit', opts.limit);
    const qs = query.size > 0 ? `?${query.toString()}` : '';
    const body = await client.get<{ runs: RunRow[] }>(`/api/v1/runs${qs}`);
    out(opts.json ? `${JSON.stringify(body)}\n` : table(header, body.runs.map(runRow)));
    return 0;
  });
}

const num = (v: number | null | undefined): string => (typeof v === 'number' && Number.isFinite(v) ? String(Number(v.toPrecision(4))) : '-');

/** Each metric's unit, from the queries its series ran (src/lib/units.ts); none when the run has no series. */
function unitsOfSeries(series: unknown): (name: string) => Unit {
  const list = Array.isArray(series) ? series : [];
  const named = list.flatMap((s: unknown) => {
    const o = s && typeof s === 'object' ? (s as Record<string, unknown>) : {};
    return typeof o.metric === 'string' && typeof o.query === 'string' ? [{ metric: o.metric, query: o.query }] : [];
  });
  return metricUnits([], named);
}

/** A run in words: what happened, each metric's verdict (effect and interval in its unit), and the timeline. */
export function describeRunText(run: RunDetail, events: RunEvent[], unitOf: (name: string) => Unit = () => NO_UNIT): string {
  const lines = [
    `Run:         ${run.id}`,
    `Experiment:  ${run.experiment}${run.version !== undefined ? ` (version ${run.version})` : ''}`,
    `Started by:  ${run.actor ?? '-'}`,
    `State:       ${run.state}`,
    `Verdict:     ${run.verdict ?? '-'}`,
    `Reason:      ${run.reason || '-'}`,
    `Started:     ${time(run.startedAt)}`,
    `Ended:       ${time(run.endedAt)}`,
  ];
  if (run.window) {
    const w = run.window;
    lines.push(`Window:      opened ${time(w.openedAt)}, deadline ${time(w.deadline)}${w.closedAt ? `, closed ${time(w.closedAt)}${w.closedBy ? ` by ${w.closedBy}` : ''}` : ', open'}`);
  }
  if (run.halt) lines.push(`Halt:        ${run.halt.guardrail} at ${time(run.halt.at)}: ${run.halt.reason}`);
  lines.push('Metrics:');
  if (run.metrics.length === 0) lines.push('  (none judged)');
  for (const m of run.metrics) {
    const unit = unitOf(m.name);
    const ci = m.ci ? formatInterval(m.ci[0], m.ci[1], unit) : '-';
    lines.push(`  ${m.name}: ${m.verdict} (effect ${m.effect === null ? '-' : formatDelta(m.effect, unit)}, CI ${ci}, p ${num(m.pValue)}) — ${m.reason}`);
  }
  lines.push('Events:');
  for (const e of events) lines.push(`  ${time(e.at)}  ${e.type}: ${e.message}`);
  return `${lines.join('\n')}\n`;
}

export async function describeCommand(kindText: string, name: string, opts: { server?: string; json?: boolean }, io: CliIo = {}): Promise<number> {
  return exitCodeOf('describe', io, async () => {
    const { out } = streams(io);
    const kind = kindOf(kindText);
    const { client } = await connect(opts.server, io);
    if (kind === 'runs') {
      const path = `/api/v1/runs/${encodeURIComponent(name)}`;
      const { series, ...run } = (await client.get<{ run: RunDetail }>(path)).run;
      const { events } = await client.get<{ events: RunEvent[] }>(`${path}/events`);
      out(opts.json ? `${JSON.stringify({ run, events })}\n` : describeRunText(run, events, unitsOfSeries(series)));
      return 0;
    }
    const path = `/api/v1/experiments/${encodeURIComponent(name)}`;
    const { experiment } = await client.get<{ experiment: ExperimentView }>(path);
    const { versions } = await client.get<{ versions: ExperimentView[] }>(`${path}/versions`);
    const history = versions.map((v) => ({ version: v.version, createdAt: v.createdAt, createdBy: v.createdBy }));
    if (opts.json) {
      out(`${JSON.stringify({ experiment, versions: history })}\n`);
      return 0;
    }
    const meta = experiment.spec.metadata;
    out(
      [
        `Experiment:  ${experiment.name} (version ${experiment.version})`,
        `Service:     ${meta.service ?? '-'}`,
        `Environment: ${meta.environment ?? '-'}`,
        `Injector:    ${experiment.spec.spec.fault.injector}`,
        'Versions:',
        ...history.map((v) => `  ${v.version}  ${time(v.createdAt)}  ${v.createdBy}`),
        `Spec (${experiment.format}, secrets redacted):`,
        ...experiment.source.trimEnd().split('\n').map((l) => `  ${l}`),
      ].join('\n') + '\n',
    );
    return 0;
  });
}

export function registerGetCommands(program: Command, io: CliIo = {}): void {
  program
    .command('get')
    .description('list experiments or runs from the server (one, with a NAME or ID)')
    .argument('<kind>', 'experiments or runs')
    .argument('[name]', 'an experiment name or a run id')
    .option('--server <url>', SERVER_HELP)
    .option('--experiment <name>', 'runs: only this experiment\'s')
    .addOption(new Option('--state <state>', 'runs: only in this state').choices([...ACTIVE_STATES, ...TERMINAL_STATES]))
    .option('--limit <n>', 'runs: at most this many, newest first (1–500; the server\'s default otherwise)')
    .option('--json', 'print the API\'s JSON on stdout: { experiments } / { experiment } / { runs } / { run }')
    .action(async (kind: string, name: string | undefined, opts: GetOptions) => {
      process.exitCode = await getCommand(kind, name, opts, io);
    });
  program
    .command('describe')
    .description('one run (metrics, window, halt, events) or one experiment (versions, spec) in full')
    .argument('<kind>', 'run or experiment')
    .argument('<name>', 'the run id or the experiment name')
    .option('--server <url>', SERVER_HELP)
    .option('--json', 'print { run, events } or { experiment, versions } on stdout')
    .action(async (kind: string, name: string, opts: { server?: string; json?: boolean }) => {
      process.exitCode = await describeCommand(kind, name, opts, io);
    });
}
