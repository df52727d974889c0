/**
 * Skipping tests whose prerequisites (a binary such as prometheus) are
 * missing. A skip is loud, and never allowed where results count: under
 * `CI=true`, or with `STEADYSTATE_REQUIRE_<NAME>=1`, a missing prerequisite
 * throws instead, so CI cannot pass by running nothing.
 *
 * Two forms:
 * - suites: `const prom = checkBinary('prometheus', '/usr/bin/prometheus');`
 *   then `describe('…', { skip: prom.skip }, () => …)` and use `prom.path`;
 * - single tests: `const bin = requireBinary(t, 'prometheus', '/usr/bin/prometheus'); if (!bin) return;`
 */
import { findBinary } from '../../src/lib/binaries.ts';
import type { TestContext } from 'node:test';

/** `STEADYSTATE_REQUIRE_PROMETHEUS` for `prometheus`. */
export function requireEnvName(name: string): string {
  return `STEADYSTATE_REQUIRE_${name.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

/** Why this prerequisite must not be skipped here, or undefined when skipping is allowed. */
export function skipForbiddenBy(name: string): string | undefined {
  if (process.env.CI === 'true') return 'CI=true';
  const envName = requireEnvName(name);
  if (process.env[envName] === '1') return `${envName}=1`;
  return undefined;
}

/**
 * Report a missing prerequisite: throws where skipping is forbidden, otherwise
 * prints a loud warning and returns the skip reason to hand to node:test.
 */
export function missingPrerequisite(name: string, why: string): string {
  const forbidden = skipForbiddenBy(name);
  if (forbidden) {
    throw new Error(`${name} is required (${forbidden}) but unavailable: ${why}`);
  }
  const reason = `${name} unavailable: ${why}`;
  console.warn(
    `\n⚠ SKIPPED: ${reason}\n⚠ These tests did NOT run. Install ${name}, or set ${requireEnvName(name)}=1 to make this a failure.\n`,
  );
  return reason;
}

export { findBinary };

export interface BinaryCheck {
  /** Absolute path of the binary, when found. */
  path: string | undefined;
  /** For `describe(name, { skip })` / `test(name, { skip })`: false when found. */
  skip: string | false;
}

/** Suite-level check, evaluated when the test file loads. */
export function checkBinary(name: string, preferredPath?: string): BinaryCheck {
  const path = findBinary(name, preferredPath);
  if (path) return { path, skip: false };
  const where = preferredPath ? `not at ${preferredPath} nor on PATH` : 'not on PATH';
  return { path: undefined, skip: missingPrerequisite(name, `binary "${name}" ${where}`) };
}

/** Test-level check: returns the path, or skips `t` (loudly) and returns undefined. */
export function requireBinary(t: TestContext, name: string, preferredPath?: string): string | undefined {
  const { path, skip } = checkBinary(name, preferredPath);
  if (skip) t.skip(skip);
  return path;
}
