/**
 * Writes a run's reports into a directory: `<run id>.json` (the whole record,
 * for machines), `<run id>.md` (for PRs) and `<run id>.html` (for people, one
 * self-contained file). File names come from the run id, never from
 * user-supplied names.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunRecord } from '../engine/types.ts';
import { redact } from '../lib/redact.ts';
import type { Experiment } from '../spec/schema.ts';
import { renderHtmlReport } from './html/html-report.ts';
import { renderMarkdownReport } from './markdown-report.ts';
import { runSummary } from './run-summary.ts';

export interface WrittenReports {
  json: string;
  markdown: string;
  html: string;
}

export async function writeRunReports(dir: string, run: RunRecord, experiment?: Experiment): Promise<WrittenReports> {
  await mkdir(dir, { recursive: true });
  const base = join(dir, run.id);
  const json = `${base}.json`;
  const markdown = `${base}.md`;
  const html = `${base}.html`;
  const { window, ...rest } = run;
  const document = redact({
    ...runSummary(run),
    detail: {
      ...rest,
      // The injector handle is for closing the fault, not for readers.
      window: window ? { ...window, handle: undefined } : undefined,
    },
    spec: experiment,
  });
  await writeFile(json, `${JSON.stringify(document, null, 2)}\n`, 'utf8');
  await writeFile(markdown, renderMarkdownReport(redact(run), experiment ? redact(experiment) : undefined), 'utf8');
  await writeFile(html, renderHtmlReport(redact(run), { spec: experiment ? redact(experiment) : undefined }), 'utf8');
  return { json, markdown, html };
}
