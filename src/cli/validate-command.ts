import { readFile } from 'node:fs/promises';
import { EXIT_BAD_INPUT } from '../engine/types.ts';
import type { InputIssue } from '../lib/errors.ts';
import { outboundIssues } from '../service/spec-checks.ts';
import { loadSecurityPolicy } from '../security/policy.ts';
import { parseExperiment } from '../spec/load.ts';

/** `FILE:LINE path.to.field: message` — the line format editors and CI annotate from. */
export function formatIssue(file: string, issue: InputIssue): string {
  return `${file}:${issue.line ?? 1} ${issue.path}: ${issue.message}`;
}

/** Read a spec file; a missing or unreadable file is bad input, reported like any other issue. */
export async function readSpecFile(file: string): Promise<{ text: string } | { issue: InputIssue }> {
  try {
    return { text: await readFile(file, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : `cannot read: ${code ?? String(err)}`;
    return { issue: { path: '(file)', line: 1, message } };
  }
}

export async function validateCommand(files: string[]): Promise<number> {
  let bad = false;
  // Outbound hosts are judged as the service in this environment would (STEADYSTATE_ALLOWED_HOSTS…).
  const policy = loadSecurityPolicy(process.env, []);
  for (const file of files) {
    const read = await readSpecFile(file);
    if ('issue' in read) {
      bad = true;
      process.stdout.write(`${formatIssue(file, read.issue)}\n`);
      continue;
    }
    const parsed = parseExperiment(read.text);
    const policyProblems = parsed.ok ? outboundIssues(parsed.experiment, policy) : [];
    const result = parsed.ok && policyProblems.length > 0 ? { ok: false as const, issues: policyProblems.map((i) => ({ ...i, line: i.line ?? 1 })) } : parsed;
    if (result.ok) {
      process.stdout.write(`${file}: valid (${result.experiment.metadata.name})\n`);
    } else {
      bad = true;
      const sorted = [...result.issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
      for (const issue of sorted) process.stdout.write(`${formatIssue(file, issue)}\n`);
    }
  }
  return bad ? EXIT_BAD_INPUT : 0;
}
