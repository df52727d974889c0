/** The commands that talk to a running `steadystate serve` (docs/cli.md). */
import type { Command } from 'commander';
import { registerApplyCommand } from './apply-command.ts';
import { registerGetCommands } from './get-command.ts';
import { registerLoginCommands } from './login-command.ts';
import { registerRunControlCommands } from './run-control-command.ts';
import type { CliIo } from './service-context.ts';
import { registerTokensCommand } from './tokens-command.ts';

export function registerServiceCommands(program: Command, io: CliIo = {}): void {
  registerLoginCommands(program, io);
  registerApplyCommand(program, io);
  registerGetCommands(program, io);
  registerRunControlCommands(program, io);
  registerTokensCommand(program, io);
}
