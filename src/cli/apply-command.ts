/**
 * `steadystate apply -f FILE...` — create or update experiments, idempotently.
 *
 * Every file is validated here first (FILE:LINE path: message, exit 64) and
 * nothing is sent unless all are valid. Then, per file: POST
 * /api/v1/experiments; when the name exists (409 `experiment_exists`), GET
 * it and, if the stored source differs, PUT a new version. Applying the same
 * file twice makes one version (the second says `unchanged`). A spec whose
 * stored source the server redacts (inline secrets) always differs, so it
 * gets a new version each time: keep secrets as references.
 */
import { extname } from 'node:path';
import type { Command } from 'commander';
import { ApiError } from './client.ts';
import { EXIT_BAD_INPUT } from './exit-codes.ts';
import { connect, exitCodeOf, SERVER_HELP, streams, type CliIo } from './service-context.ts';

interface ExperimentView {
  name: string;
  version: number;
  source: string;
}

export interface Applied {
  file: string;
  name: string;
  action: 'created' | 'configured' | 'unchanged';
  version: number;
}

interface Prepared {
  file: string;
  name: string;
  /** What the server stores as the source for this body. */
  source: string;
  body: unknown;
  contentType: string;
}

export async function applyCommand(opts: { filename: string[]; server?: string; json?: boolean }, io: CliIo = {}): Promise<number> {
  return exitCodeOf('apply', io, async () => {
    const { out, err } = streams(io);
    // validate-command brings the spec checks and their adapters: loaded when a command needs them.
    const { formatIssue, readSpecFile } = await import('./validate-command.ts');
    const { parseExperiment } = await import('../spec/load.ts');
    const prepared: Prepared[] = [];
    let bad = false;
    for (const file of opts.filename) {
      const read = await readSpecFile(file);
      if ('issue' in read) {
        bad = true;
        err(`${formatIssue(file, read.issue)}\n`);
        continue;
      }
      const parsed = parseExperiment(read.text);
      if (!parsed.ok) {
        bad = true;
        for (const issue of parsed.issues) err(`${formatIssue(file, issue)}\n`);
        continue;
      }
      const name = parsed.experiment.metadata.name;
      if (extname(file).toLowerCase() === '.json') {
        const body = JSON.parse(read.text) as unknown;
        prepared.push({ file, name, source: JSON.stringify(body, null, 2), body, contentType: 'application/json' });
      } else {
        prepared.push({ file, name, source: read.text, body: read.text, contentType: 'application/yaml' });
      }
    }
    const names = prepared.map((p) => p.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) {
      err(`steadystate apply: experiment "${twice}" is in more than one file; apply one of them\n`);
      bad = true;
    }
    if (bad) {
      err('steadystate apply: nothing applied\n');
      return EXIT_BAD_INPUT;
    }
    const { client } = await connect(opts.server, io);
    const applied: Applied[] = [];
    for (const p of prepared) {
      const send = { body: p.body, contentType: p.contentType };
      let result: Applied;
      try {
        const created = await client.request<{ experiment: ExperimentView }>('POST', '/api/v1/experiments', send);
        result = { file: p.file, name: p.name, action: 'created', version: created.body.experiment.version };
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 409)) throw e;
        const path = `/api/v1/experiments/${encodeURIComponent(p.name)}`;
        const current = (await client.get<{ experiment: ExperimentView }>(path)).experiment;
        if (current.source === p.source) {
          result = { file: p.file, name: p.name, action: 'unchanged', version: current.version };
        } else {
          const updated = await client.request<{ experiment: ExperimentView }>('PUT', path, send);
          result = { file: p.file, name: p.name, action: 'configured', version: updated.body.experiment.version };
        }
      }
      applied.push(result);
      if (!opts.json) out(`experiment/${result.name} ${result.action} (version ${result.version})\n`);
    }
    if (opts.json) out(`${JSON.stringify({ applied })}\n`);
    return 0;
  });
}

export function registerApplyCommand(program: Command, io: CliIo = {}): void {
  program
    .command('apply')
    .description('create or update experiments on the server from spec files (idempotent: an unchanged spec makes no new version)')
    .requiredOption('-f, --filename <files...>', 'experiment spec files (YAML or JSON); all are validated before any is sent')
    .option('--server <url>', SERVER_HELP)
    .option('--json', 'print { applied: [{ file, name, action, version }] } on stdout')
    .action(async (opts: { filename: string[]; server?: string; json?: boolean }) => {
      process.exitCode = await applyCommand(opts, io);
    });
}
