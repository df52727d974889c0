/**
 * `steadystate run FILE [--json] [--report-dir DIR]`: one experiment, in this
 * process, to its end. Ctrl-C (or SIGTERM) aborts the run, which closes the
 * fault window before the process exits; a second Ctrl-C is ignored for as
 * long as the close takes, because leaving a fault behind is worse than a
 * slow exit.
 */
import { EXIT_BAD_INPUT, EXIT_CODES, type TerminalState } from '../engine/types.ts';
import { executeRun } from '../engine/run-engine.ts';
import { createInjector } from '../injectors/registry.ts';
import { AbortedError, ConfigError } from '../lib/errors.ts';
import { createLogger } from '../lib/logger.ts';
import { createMetricSource } from '../metric-sources/registry.ts';
import { specView } from '../reports/html/spec-view.ts';
import { metricSummaryLine, metricUnits } from '../reports/metric-text.ts';
import { writeRunReports } from '../reports/write-reports.ts';
import { runSummary } from '../reports/run-summary.ts';
import { commandIssues, outboundIssues, secretReferenceIssues } from '../service/spec-checks.ts';
import { buildRunHooks } from '../service/run-hooks.ts';
import { loadAnnotationsConfig } from '../annotations/annotations-config.ts';
import { loadSecurityPolicy, type SecurityPolicy } from '../security/policy.ts';
import { parseExperiment } from '../spec/load.ts';
import { cliActor } from './actor.ts';
import { formatIssue, readSpecFile } from './validate-command.ts';

export interface RunCommandOptions {
  json: boolean;
  reportDir: string;
  /**
   * `--allow-command`: this machine is the operator's own, so the command
   * injector may run the programs this spec names (still with a minimal
   * environment). Without it, only STEADYSTATE_COMMAND_ALLOW's programs run.
   */
  allowCommand?: boolean;
}

/** Who started a run from this command line: `cli:USER@HOST`, recorded in the run's first event. */

/** The CLI's policy: the same STEADYSTATE_* variables as the service, plus --allow-command. */
export function cliSecurityPolicy(env: NodeJS.ProcessEnv, allowCommand: boolean): SecurityPolicy {
  const problems: string[] = [];
  const policy = loadSecurityPolicy(env, problems);
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  return allowCommand ? { ...policy, command: { mode: 'any' } } : policy;
}

export async function runCommand(file: string, opts: RunCommandOptions): Promise<number> {
  const read = await readSpecFile(file);
  if ('issue' in read) {
    process.stderr.write(`${formatIssue(file, read.issue)}\n`);
    return EXIT_BAD_INPUT;
  }
  const parsed = parseExperiment(read.text);
  if (!parsed.ok) {
    for (const issue of parsed.issues) process.stderr.write(`${formatIssue(file, issue)}\n`);
    return EXIT_BAD_INPUT;
  }
  const experiment = parsed.experiment;
  const policy = cliSecurityPolicy(process.env, opts.allowCommand === true);
  const refused = [...outboundIssues(experiment, policy), ...secretReferenceIssues(experiment, policy), ...commandIssues(experiment, policy)];
  if (refused.length > 0) {
    for (const issue of refused) process.stderr.write(`${formatIssue(file, issue)}\n`);
    if (experiment.spec.fault.injector === 'command' && policy.command.mode !== 'any') {
      process.stderr.write('steadystate: to run the programs of this spec on this machine, add --allow-command\n');
    }
    return EXIT_BAD_INPUT;
  }
  const logger = createLogger({ level: process.env.STEADYSTATE_LOG_LEVEL ?? 'warn' });
  const source = createMetricSource(experiment.spec.source, { policy });
  const injector = createInjector(experiment.spec.fault.injector, experiment.spec.fault.params, { policy });
  const problems: string[] = [];
  // The same STEADYSTATE_GRAFANA_* / STEADYSTATE_DATADOG_EVENTS variables as the service.
  const annotations = loadAnnotationsConfig(process.env, policy, problems);
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  - ${problems.join('\n  - ')}`);

  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (!controller.signal.aborted) {
      process.stderr.write(`\nsteadystate: ${sig} received — closing the fault window, then exiting\n`);
      controller.abort(new AbortedError(`aborted by ${sig}`));
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const run = await executeRun(
      experiment,
      {
        source,
        injector,
        logger,
        hooks: buildRunHooks(experiment, { policy, annotations }),
        // Progress goes to stderr always: `--json` owns stdout only (docs/cli.md).
        onEvent: (event) => {
          if (process.env.STEADYSTATE_PROGRESS !== '0') process.stderr.write(`[${event.at.slice(11, 19)}] ${event.message}\n`);
        },
      },
      { signal: controller.signal, actor: cliActor() },
    );
    const reports = await writeRunReports(opts.reportDir, run, experiment);
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(runSummary(run))}\n`);
    } else {
      process.stdout.write(`${run.experiment}: ${run.state.toUpperCase()} — ${run.reason}\n`);
      // Each metric's numbers in its unit (as the reports show them), then the judge's reason.
      const unitOf = metricUnits(specView(experiment).metrics, run.series);
      for (const m of run.metrics) process.stdout.write(`  ${metricSummaryLine(m, unitOf(m.name))}\n    ${m.reason}\n`);
      process.stdout.write(`reports: ${reports.html}, ${reports.markdown}, ${reports.json}\n`);
    }
    return EXIT_CODES[run.state as TerminalState] ?? EXIT_CODES.errored;
  } finally {
    await source.close?.();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
