/** `steadystate queries list` — the query template library (Datadog/query-library issue). */
import type { Command } from 'commander';

export function registerQueriesCommand(_program: Command): void {
  // Registered by the query-library issue.
}
