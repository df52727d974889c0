/**
 * Exit codes every judging command shares (`run`, `start --wait`, `wait`,
 * `compare`): 0 passed, 1 failed, 2 halted, 3 inconclusive, 4 errored,
 * aborted or halt_failed (or the server could not be reached), 64 bad input.
 * When one command judges several things, the worst wins (EXIT_SEVERITY).
 */
import { EXIT_BAD_INPUT, EXIT_CODES } from '../engine/types.ts';

export { EXIT_BAD_INPUT, EXIT_CODES };

/**
 * Worst first:
 *   4 errored/aborted/halt_failed — the outcome is unknown, or a fault may be left behind;
 *   2 halted — a guardrail saw harm and stopped the fault;
 *   1 failed — the judge measured harm beyond tolerance;
 *   3 inconclusive — no evidence either way;
 *   0 passed.
 */
export const EXIT_SEVERITY: readonly number[] = [4, 2, 1, 3, 0];

/** The worst of several exit codes, by EXIT_SEVERITY; 0 for none. */
export function worstExitCode(codes: readonly number[]): number {
  let worst = 0;
  for (const c of codes) {
    if (EXIT_SEVERITY.indexOf(c) < EXIT_SEVERITY.indexOf(worst)) worst = c;
  }
  return worst;
}
