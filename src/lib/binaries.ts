/** Finding programs the demo and the tests may run (prometheus, postgres, chromium). */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** `preferredPath` if executable, else `name` looked up on PATH, else undefined. */
export function findBinary(name: string, preferredPath?: string): string | undefined {
  if (preferredPath && isExecutable(preferredPath)) return preferredPath;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}
