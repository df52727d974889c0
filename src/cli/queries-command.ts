/**
 * `steadystate queries list [--json]` — the query template library with each
 * backend's variables, defaults and where each template comes from.
 * `steadystate queries show NAME [--backend KIND] [--var k=v]...` — one
 * template rendered, as `validate` would render it in a spec.
 *
 * Exit codes: 0; 64 when a template file is broken (list still shows the
 * rest) or when `show` cannot render.
 */
import type { Command } from 'commander';

export function registerQueriesCommand(program: Command): void {
  const queries = program.command('queries').description('the query template library (SLIs and business KPIs for each backend)');

  queries
    .command('list')
    .description('list the templates with their variables; directories: $STEADYSTATE_QUERY_DIRS, then the built-in queries/')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      // Loaded here: the library reads and checks every template file; other commands need none of it.
      const { defaultQueryLibrary, listQueries } = await import('./queries-run.ts');
      process.exitCode = listQueries(defaultQueryLibrary(), opts.json === true);
    });

  queries
    .command('show')
    .description('render one template for a backend, as validate renders it in a spec')
    .argument('<name>', 'template name')
    .option('--backend <kind>', 'metric source kind (spec.source.kind)', 'prometheus')
    .option('--var <name=value>', 'a template variable (repeatable)', collect, [])
    .action(async (name: string, opts: { backend: string; var: string[] }) => {
      const { defaultQueryLibrary, showQuery } = await import('./queries-run.ts');
      process.exitCode = showQuery(defaultQueryLibrary(), name, opts.backend, opts.var);
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
