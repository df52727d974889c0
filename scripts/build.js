// `npm run build`: compile src/ to dist/ and copy beside it what the compiled code reads at run time.
// tsc emits JavaScript only; the SQL migrations are read from dist/store/migrations (src/store/migrate.ts).
// The query library (queries/) and the demo's specs (examples/) are read from the package root, which
// is two levels up from both src/… and dist/…, so they need no copy. Plain JavaScript with no
// dependencies beyond the compiler, so `npm pack` works on a fresh `npm ci`.
import { cpSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// A clean dist/: files of sources deleted since the last build must not ship.
rmSync(`${root}dist`, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const built = spawnSync(process.execPath, [tsc, '-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
if (built.status !== 0) process.exit(built.status ?? 1);
cpSync(`${root}src/store/migrations`, `${root}dist/store/migrations`, { recursive: true });
