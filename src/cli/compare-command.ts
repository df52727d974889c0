/** `steadystate compare` — the statistics engine on data a user already has (statistics issue). */
import type { Command } from 'commander';

export function registerCompareCommand(_program: Command): void {
  // Registered by the statistics issue.
}
