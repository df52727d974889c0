/**
 * `steadystate compare` — the statistics engine on data a user already has.
 *
 *   steadystate compare --method M --control FILE --experiment FILE
 *       [--alpha A] [--direction increase|decrease|either] [--tolerance T]
 *       [--split S] [--min-samples N] [--json]
 *   steadystate compare --method M --batch FILE.jsonl [same options]
 *
 * FILE holds a JSON array: numbers for `paired`, `mann-whitney`,
 * `sequential-mean` and `sequential-rate` (counts per step), `[errors, total]`
 * pairs for `proportion`. `paired` (the service's default judge, ADR 013)
 * reads the arrays as values of the same steps and judges them on
 * independent windows: `--window-steps 15` for a 15 s rate at a 1 s step,
 * `unknown` for batch means; `mann-whitney` is Kayenta's test, which assumes
 * independent samples. The sequential methods read the two arrays as looks, paired
 * index by index, so they must be equally long. `--batch` reads one
 * `{ "id", "control", "experiment" }` object per line and writes one JSON
 * result per line with the same `id`; a bad line gives
 * `{ "id", "line", "error" }` for that line and the others are still judged.
 *
 * Every result carries `method`, `n`, `pValue`, `estimate`, `ci: [lo, hi]`
 * and `verdict` (pass | fail | inconclusive); the sequential methods also
 * `stoppedAt` (0-based index of the first rejecting look, or null). Open
 * interval ends are JSON null. For `mann-whitney`, `estimate` and `ci` are the
 * Hodges–Lehmann shift (experiment − control) and its interval as R reports
 * them, and `n` is the number of values in both groups; for the sequential
 * methods `n` is the number of looks.
 *
 * Exit codes, like `run`'s: 0 pass, 1 fail, 3 inconclusive; with `--batch`
 * the worst verdict of the file (1 > 3 > 0, as `wait` orders them); 64 for bad
 * input (with `--batch`: any bad line, after the good ones were judged), with
 * a message naming the flag or the line.
 */
import { Option, type Command } from 'commander';
import type { SpreadPolicy } from '../stats/verdict.ts';
import type { SequentialDirection } from '../stats/sequential-types.ts';

export const COMPARE_METHODS = ['paired', 'mann-whitney', 'sequential-rate', 'sequential-mean', 'proportion'] as const;
export type CompareMethod = (typeof COMPARE_METHODS)[number];

export function registerCompareCommand(program: Command): void {
  program
    .command('compare')
    .description('compare a control and an experiment sample with one of the statistics methods')
    .addOption(new Option('--method <method>', 'statistics method').choices(COMPARE_METHODS).makeOptionMandatory())
    .option('--control <file>', 'JSON array: the control group')
    .option('--experiment <file>', 'JSON array: the experiment group')
    .option('--batch <file>', 'JSON lines, one { "id", "control", "experiment" } per line; one result line each')
    .option('--alpha <a>', 'significance level', '0.05')
    .addOption(new Option('--direction <d>', 'which way is harmful').choices(['increase', 'decrease', 'either']).default('either'))
    .option('--tolerance <t>', 'change that does not matter: 5% (relative) or 0.2 (absolute, metric units)', '0')
    .option('--split <s>', 'experiment share of the traffic the two groups get (sequential-rate), e.g. 0.5 or 50%', '0.5')
    .option('--min-samples <n>', 'fewest values per group before paired or mann-whitney judges', '30')
    .option('--window-steps <k>', 'paired: how many consecutive values share raw material (a rate over a 15s window at a 1s step: 15); "unknown" groups values into batch means', '1')
    .addOption(new Option('--spread <policy>', 'paired and mann-whitney: a rise in spread is ignored, reported, or fails the metric').choices(['ignore', 'report', 'fail']).default('report'))
    .option('--json', 'print JSON (always on with --batch)')
    .action(async (raw: RawOptions) => {
      // Loaded here: the statistics are this command's business only, not every CLI start's.
      const { compareCommand } = await import('./compare-run.ts');
      process.exitCode = await compareCommand(raw);
    });
}

export interface RawOptions {
  method: CompareMethod;
  control?: string;
  experiment?: string;
  batch?: string;
  alpha: string;
  direction: SequentialDirection;
  tolerance: string;
  split: string;
  minSamples: string;
  windowSteps?: string;
  spread?: SpreadPolicy;
  json?: boolean;
}
