import { readFile } from 'node:fs/promises';
import { EXIT_BAD_INPUT } from '../engine/types.ts';
import type { InputIssue } from '../lib/errors.ts';
import { metricShapes } from '../engine/kpi-guardrails.ts';
import { explainExperiment } from './explain.ts';
import { describeShape, shapeWarnings } from '../queries/query-shape.ts';
import { outboundIssues } from '../service/spec-checks.ts';
import { loadSecurityPolicy } from '../security/policy.ts';
import { parseExperiment } from '../spec/load.ts';
import type { Experiment } from '../spec/schema.ts';

/** `FILE:LINE path.to.field: message` — the line format editors and CI annotate from. */
export function formatIssue(file: string, issue: InputIssue): string {
  return `${file}:${issue.line ?? 1} ${issue.path}: ${issue.message}`;
}

/** Read a spec file; a missing or unreadable file is bad input, reported like any other issue. */
export async function readSpecFile(file: string): Promise<{ text: string } | { issue: InputIssue }> {
  try {
    return { text: await readFile(file, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : `cannot read: ${code ?? String(err)}`;
    return { issue: { path: '(file)', line: 1, message } };
  }
}

export interface ValidateOptions {
  /** Also print how each metric is collected and judged, and what each guardrail evaluates (explain.ts). */
  explain?: boolean;
}

export async function validateCommand(files: string[], options: ValidateOptions = {}): Promise<number> {
  let bad = false;
  // Outbound hosts are judged as the service in this environment would (STEADYSTATE_ALLOWED_HOSTS…).
  const policy = loadSecurityPolicy(process.env, []);
  for (const file of files) {
    const read = await readSpecFile(file);
    if ('issue' in read) {
      bad = true;
      process.stdout.write(`${formatIssue(file, read.issue)}\n`);
      continue;
    }
    const parsed = parseExperiment(read.text);
    const policyProblems = parsed.ok ? outboundIssues(parsed.experiment, policy) : [];
    const result = parsed.ok && policyProblems.length > 0 ? { ok: false as const, issues: policyProblems.map((i) => ({ ...i, line: i.line ?? 1 })) } : parsed;
    if (result.ok) {
      process.stdout.write(`${file}: valid (${result.experiment.metadata.name})\n`);
      const notes = options.explain
        ? [...explainExperiment(result.experiment).map((line) => `${line}\n`), ...queryWarnings(file, result.experiment)]
        : judgingNotes(file, result.experiment);
      process.stdout.write(notes.join(''));
    } else {
      bad = true;
      const sorted = [...result.issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
      for (const issue of sorted) process.stdout.write(`${formatIssue(file, issue)}\n`);
    }
  }
  return bad ? EXIT_BAD_INPUT : 0;
}

/**
 * How each steady-state metric will be judged (the query's window at the
 * run's step, and how many independent windows the fault gives), and a
 * warning for every query that cannot be judged soundly. Warnings do not
 * change the exit code: the spec is valid, the verdict may just be weak.
 */
export function judgingNotes(file: string, experiment: Experiment): string[] {
  const { spec } = experiment;
  const shapes = metricShapes(spec);
  const lines: string[] = [];
  spec.steadyState.forEach((m, i) => {
    const shape = shapes.get(m.name);
    if (!shape) return;
    const method = spec.analysis.method === 'paired' ? '' : ' (judged by Mann-Whitney, which assumes independent samples)';
    lines.push(`  ${m.name}: ${describeShape(shape, spec.source.step, spec.fault.duration)}${method}\n`);
    lines.push(...queryWarnings(file, experiment, i));
  });
  return lines;
}

/** `FILE: warning: spec.steadyState[i].query: …` for the metrics whose queries cannot be judged soundly (all, or metric `only`). */
export function queryWarnings(file: string, experiment: Experiment, only?: number): string[] {
  const { spec } = experiment;
  const shapes = metricShapes(spec);
  return spec.steadyState.flatMap((m, i) => {
    const shape = shapes.get(m.name);
    if (!shape || (only !== undefined && i !== only)) return [];
    return shapeWarnings(shape, spec.source.step, spec.fault.duration).map((w) => `${file}: warning: spec.steadyState[${i}].query: ${w}\n`);
  });
}
