/**
 * Loaded by `npm test` (`--import`) in the runner and in every test process it starts.
 * PGlite stores start from one saved initdb cluster instead of running initdb in each of the
 * suite's ~70 stores (about 3.5 s of CPU apiece; see src/store/pglite-template.ts).
 * The children a test spawns (`serve`, `run`) inherit the variable.
 */
import { fileURLToPath } from 'node:url';

process.env.STEADYSTATE_PGLITE_TEMPLATE_DIR ??= fileURLToPath(new URL('../../node_modules/.cache/steadystate', import.meta.url));
