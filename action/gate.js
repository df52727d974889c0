#!/usr/bin/env node
// The step of the GitHub Action (action.yml at the repository root): report a deploy to steadystate
// through the signed generic webhook, wait for the verdict, and exit with it (0 passed, 1 failed,
// 2 halted, 3 inconclusive, 4 errored/aborted or timed out, 64 bad input).
//
// The work is `steadystate deploy --wait --json` (src/cli/deploy-command.ts): this script only maps
// the action's inputs (INPUT_* variables, set by action.yml) to its argv, installs the CLI when the
// runner has none, and turns the JSON answer into step outputs and a job summary. Plain JavaScript
// with Node's own modules, so it runs from the action's checkout on the runner's Node (20+) with
// nothing installed. Programs are spawned with argv, never through a shell, so no input is ever
// parsed as shell syntax. The webhook secret and the API token reach the CLI through its environment
// (STEADYSTATE_WEBHOOK_SECRET_GENERIC, STEADYSTATE_TOKEN), never argv, and are never printed.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';

const env = process.env;
const input = (name) => (env[`INPUT_${name.toUpperCase().replace(/-/g, '_')}`] ?? '').trim();
const yes = (name, fallback) => {
  const v = input(name).toLowerCase();
  return v === '' ? fallback : v === 'true';
};
const fail = (message, code = 64) => {
  process.stderr.write(`::error title=steadystate::${message}\n`);
  process.exit(code);
};

/** The version this action belongs to: it installs the CLI of the same version. */
const version = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

const service = input('service');
const environment = input('environment');
if (service === '' || environment === '') fail('the inputs service and environment are required');
// A delivery id unique to this job attempt and deploy: re-running the step in the same attempt is a
// redelivery (the same runs); a new attempt (Re-run jobs) is a new deploy.
const deliveryId =
  input('delivery-id') ||
  (env.GITHUB_RUN_ID
    ? `github-${env.GITHUB_RUN_ID}-${env.GITHUB_RUN_ATTEMPT ?? '1'}-${env.GITHUB_JOB ?? 'job'}-${service}-${environment}`.replace(/[^\x21-\x7e]/g, '_').slice(0, 200)
    : '');
const revision = input('revision') || env.GITHUB_SHA || '';
const wait = yes('wait', true);

// `--flag=value`: a value that starts with a dash stays a value.
const args = ['deploy', '--json', `--service=${service}`, `--environment=${environment}`, `--timeout=${input('timeout') || '30m'}`];
if (input('server') !== '') args.push(`--server=${input('server')}`);
if (revision !== '') args.push(`--revision=${revision}`);
if (deliveryId !== '') args.push(`--id=${deliveryId}`);
if (wait) args.push('--wait');
if (yes('allow-none', false)) args.push('--allow-none');

/** The CLI: the one on PATH, unless the `package` input names one to install (or there is none). */
function ensureCli() {
  const wanted = input('package');
  const found = spawnSync('steadystate', ['--version'], { encoding: 'utf8' });
  if (wanted === '' && !found.error && found.status === 0) return;
  const spec = wanted || `steadystate@${version}`;
  process.stderr.write(`steadystate: installing ${spec}\n`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const installed = spawnSync(npm, ['install', '--global', '--no-audit', '--no-fund', spec], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (installed.status !== 0) fail(`npm install --global ${spec} failed`, 4);
}

function output(name, value) {
  if (env.GITHUB_OUTPUT) appendFileSync(env.GITHUB_OUTPUT, `${name}=${value}\n`);
}

/** Markdown cells: no pipes or newlines from a run's reason. */
const cell = (s) => String(s ?? '').replace(/[|\n\r]/g, ' ');

ensureCli();
const child = spawn('steadystate', args, { stdio: ['ignore', 'pipe', 'inherit'] });
let stdout = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (d) => (stdout += d));
child.on('error', (err) => fail(`cannot run steadystate: ${err.message}`, 4));
child.on('close', (code) => {
  const exitCode = code ?? 4; // killed by a signal: the outcome is unknown
  let answer;
  try {
    answer = stdout.trim() === '' ? undefined : JSON.parse(stdout);
  } catch {
    process.stdout.write(stdout);
  }
  // Without --wait the answer is the webhook's ({ runs: [{ id, experiment }] }); with it, { deploy, runs }.
  const runs = answer?.runs ?? [];
  output('runs', runs.map((r) => r.id).join(' '));
  output('exit-code', String(exitCode));
  if (answer) output('result', JSON.stringify(answer));
  const lines = runs.map((r) => `${r.id} ${r.experiment ?? ''}: ${r.state ? `${r.state.toUpperCase()} (exit ${r.exitCode})` : 'started'}${r.reason ? ` — ${r.reason}` : ''}`);
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
  if (env.GITHUB_STEP_SUMMARY && runs.length > 0) {
    const rows = runs.map((r) => `| \`${cell(r.id)}\` | ${cell(r.experiment)} | ${cell(r.state ?? 'started')} | ${cell(r.exitCode ?? '')} | ${cell(r.reason)} |`);
    appendFileSync(
      env.GITHUB_STEP_SUMMARY,
      `### steadystate: ${cell(service)} → ${cell(environment)} (exit ${exitCode})\n\n| run | experiment | state | exit | reason |\n|---|---|---|---|---|\n${rows.join('\n')}\n`,
    );
  }
  process.exit(exitCode);
});
