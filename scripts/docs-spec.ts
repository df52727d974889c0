/**
 * `npm run docs:spec`: regenerate docs/spec.md and schema/experiment.schema.json
 * from the zod schemas and src/spec/field-docs.ts. With `--check`, write
 * nothing and exit 1 when a committed file differs (what the test checks too).
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from '../src/spec/spec-reference.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
let stale = 0;
for (const [file, text] of Object.entries(generatedFiles())) {
  const target = path.join(root, file);
  const current = await readFile(target, 'utf8').catch(() => undefined);
  if (current === text) continue;
  if (check) {
    stale += 1;
    console.error(`${file}: out of date; run npm run docs:spec`);
  } else {
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, text);
    console.log(`wrote ${file}`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
