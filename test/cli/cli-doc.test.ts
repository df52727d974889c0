/**
 * docs/cli.md and `--help` name the same commands and flags. Both lists come
 * from their sources: the commands and options of the commander program
 * (buildProgram), and the `### \`steadystate …\`` headings of the document
 * with the flags in each section's table (rows starting with "| `-"). A
 * command or flag added to one and not the other fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.ts';

/** Leaf commands (`tokens create`, not `tokens`) → their long flags, as `--help` prints them. */
function programFlags(program: Command): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  const walk = (cmd: Command, path: string[]): void => {
    for (const sub of cmd.commands) {
      const here = [...path, sub.name()];
      if (sub.commands.length === 0) found.set(here.join(' '), new Set(sub.options.map((o) => o.long ?? o.short ?? o.flags)));
      walk(sub, here);
    }
  };
  walk(program, ['steadystate']);
  return found;
}

/** `### \`steadystate X\`` sections → the long flags in their tables. */
function documentedFlags(markdown: string): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  let current: Set<string> | undefined;
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) continue;
    const heading = /^### `(steadystate [^`]+)`\s*$/.exec(line);
    if (heading) {
      const name = heading[1] as string;
      assert.ok(!found.has(name), `docs/cli.md documents "${name}" twice`);
      current = new Set();
      found.set(name, current);
      continue;
    }
    if (/^#{1,2} /.test(line)) current = undefined;
    const row = /^\| `([^`]+)`/.exec(line);
    if (row && current && row[1]!.startsWith('-')) {
      // `-f, --filename <files...>` → --filename; `--json` → --json.
      const long = /--[a-z][a-z-]*/.exec(row[1]!)?.[0];
      assert.ok(long, `docs/cli.md: no long flag in "${row[1]}"`);
      current.add(long);
    }
  }
  return found;
}

const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');

describe('docs/cli.md and the program agree', () => {
  const program = programFlags(buildProgram());
  const documented = documentedFlags(doc);

  it('finds the commands at all (the parsers read something)', () => {
    assert.ok(program.size >= 20, `program: ${[...program.keys()].join(', ')}`);
    assert.ok(program.has('steadystate tokens create') && program.has('steadystate run'));
    assert.ok(documented.size >= 20, `doc: ${[...documented.keys()].join(', ')}`);
  });

  it('names the same commands', () => {
    assert.deepEqual([...documented.keys()].sort(), [...program.keys()].sort());
  });

  it('names the same flags for every command', () => {
    for (const [name, flags] of program) {
      const inDoc = documented.get(name) ?? new Set<string>();
      assert.deepEqual([...inDoc].sort(), [...flags].sort(), `${name}: docs/cli.md and --help list different flags`);
    }
  });

  it('would notice a drift: a flag only in the program, a command only in the document', () => {
    const p = buildProgram();
    p.commands.find((c) => c.name() === 'start')?.option('--brand-new-flag', 'new');
    const start = programFlags(p).get('steadystate start');
    assert.ok(start?.has('--brand-new-flag'), 'the parser sees a new flag');
    assert.notDeepEqual([...(documented.get('steadystate start') ?? [])].sort(), [...(start ?? [])].sort());
    const extra = documentedFlags(`${doc}\n### \`steadystate nonsense\`\n\n| flag | meaning |\n| --- | --- |\n| \`--x\` | y |\n`);
    assert.ok(extra.has('steadystate nonsense'));
    assert.notDeepEqual([...extra.keys()].sort(), [...program.keys()].sort());
  });

  it('every documented exit-code table row is a code the CLI uses', () => {
    const codes = [...doc.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    assert.deepEqual(codes, [0, 1, 2, 3, 4, 64]);
  });
});
