/**
 * The `steadystate` process: parses argv with the program (program.ts) and
 * turns errors into exit codes. Exit codes are a contract (shared/BRIEF.md):
 * run → 0 passed, 1 failed, 2 halted, 3 inconclusive, 4 errored/aborted;
 * 64 for bad input anywhere.
 */
import { CommanderError } from 'commander';
import { EXIT_BAD_INPUT, EXIT_CODES } from '../engine/types.ts';
import { ConfigError, ValidationError } from '../lib/errors.ts';
import { buildProgram } from './program.ts';

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; every usage mistake is bad input.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_BAD_INPUT;
      return;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`steadystate: ${err.message}\n`);
      process.exitCode = EXIT_BAD_INPUT;
      return;
    }
    if (err instanceof ValidationError) {
      for (const issue of err.issues) process.stderr.write(`steadystate: ${issue.path}: ${issue.message}\n`);
      process.exitCode = EXIT_BAD_INPUT;
      return;
    }
    process.stderr.write(`steadystate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = EXIT_CODES.errored;
  }
}

// `steadystate queries list | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

await main(process.argv);
