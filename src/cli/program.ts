/**
 * The `steadystate` command tree, apart from the process entry point
 * (main.ts) so tests can read the commands and flags without running anything.
 * Exit codes are a contract (shared/BRIEF.md, docs/cli.md).
 */
import { Command, Option } from 'commander';
import { registerCompareCommand } from './compare-command.ts';
import { registerDeployCommand } from './deploy-command.ts';
import { registerQueriesCommand } from './queries-command.ts';
import { registerServiceCommands } from './service-commands.ts';
import { registerTokenCommand } from './token-command.ts';
import { registerWaitCommand } from './wait-command.ts';

export function buildProgram(): Command {
  const program = new Command('steadystate')
    .description('Chaos experiments run as controlled experiments, judged with statistics, halted by themselves.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('validate')
    .description('check experiment specs; prints FILE:LINE path: message for every problem')
    .argument('<files...>', 'experiment spec files (YAML or JSON)')
    .option('--explain', 'also print, per metric and group, the rendered query, step and window, collection plan and judging, and per guardrail what it evaluates (SLO burn-rate windows)')
    .action(async (files: string[], opts: { explain?: boolean }) => {
      const { validateCommand } = await import('./validate-command.ts');
      process.exitCode = await validateCommand(files, { explain: opts.explain === true });
    });

  program
    .command('schema')
    .description('print the JSON Schema (draft-07) of experiment specs, for editors and tools (docs/spec.md)')
    .action(async () => {
      const { schemaFileText } = await import('../spec/spec-reference.ts');
      process.stdout.write(schemaFileText());
    });

  program
    .command('run')
    .description('run one experiment to its end')
    .argument('<file>', 'experiment spec file')
    .option('--json', 'print one JSON object with the run on stdout (progress stays on stderr)')
    .option('--report-dir <dir>', 'directory for the HTML, Markdown and JSON reports', 'reports')
    .option('--allow-command', 'let the command injector run the programs this spec names (off otherwise, unless STEADYSTATE_COMMAND_ALLOW lists them)')
    .action(async (file: string, opts: { json?: boolean; reportDir: string; allowCommand?: boolean }) => {
      // Loaded per command: the engine, adapters and reports are most of the CLI's start-up.
      const { runCommand } = await import('./run-command.ts');
      process.exitCode = await runCommand(file, { json: opts.json === true, reportDir: opts.reportDir, allowCommand: opts.allowCommand === true });
    });

  program
    .command('proxy')
    .description('the HTTP fault proxy: splits traffic into control/experiment groups and injects faults into the experiment group')
    .requiredOption('--listen <host:port>', 'address for proxied traffic')
    .requiredOption('--upstream <url>', 'the service behind the proxy')
    .requiredOption('--admin <host:port>', 'address of the admin API and /metrics')
    .addOption(new Option('--control-percent <n>', 'share of traffic in the control group').default('5'))
    .addOption(new Option('--experiment-percent <n>', 'share of traffic in the experiment group').default('5'))
    .option('--sticky-header <name>', 'header whose value keeps a user in one group (default: client address)')
    .option('--admin-host <name...>', 'host names the admin API answers to besides IP addresses and localhost (DNS rebinding defence)')
    .addOption(new Option('--workers <n>', 'processes serving traffic (windows, deadlines and metrics stay consistent across them)').default('1'))
    .action(async (opts: ProxyCliOptions) => {
      const { runProxyCommand } = await import('../proxy/command.ts');
      await runProxyCommand(opts);
    });

  program
    .command('serve')
    .description('the HTTP service (API, webhooks, scheduler)')
    .option('--listen <host:port>', 'listen address (env STEADYSTATE_LISTEN, default 127.0.0.1:8080)')
    .action(async (opts: { listen?: string }) => {
      const { serveCommand } = await import('./serve-command.ts');
      await serveCommand(opts);
    });

  program
    .command('demo')
    .description('the whole loop on one machine with embedded defaults')
    .addOption(new Option('--source <kind>', 'metrics from a real Prometheus or the embedded scraper (default: prometheus when on PATH)').choices(['prometheus', 'scrape']))
    .option('--report-dir <dir>', 'where the demo writes its reports', 'reports/demo')
    .action(async (opts: { source?: 'prometheus' | 'scrape'; reportDir: string }) => {
      const { demoCommand } = await import('./demo-command.ts');
      process.exitCode = await demoCommand(opts);
    });

  registerTokenCommand(program);
  registerServiceCommands(program);
  registerWaitCommand(program);
  registerDeployCommand(program);
  registerCompareCommand(program);
  registerQueriesCommand(program);
  return program;
}

export interface ProxyCliOptions {
  listen: string;
  upstream: string;
  admin: string;
  controlPercent: string;
  experimentPercent: string;
  stickyHeader?: string;
  adminHost?: string[];
  workers?: string;
}
