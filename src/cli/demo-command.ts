/** `steadystate demo` — the whole loop on one machine (see src/demo/run-demo.ts). */
import { runDemo } from '../demo/run-demo.ts';

export async function demoCommand(opts: { source?: 'prometheus' | 'scrape'; reportDir?: string } = {}): Promise<number> {
  return runDemo(opts);
}
