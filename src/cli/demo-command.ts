/** `steadystate demo` — the whole loop on one machine. */
export async function demoCommand(): Promise<number> {
  process.stderr.write(
    'steadystate demo: the end-to-end demo comes with the demo issue (#6); it is not built yet.\n' +
      'Meanwhile: `npm test` runs the same loop against a real Prometheus (see README).\n',
  );
  return 1;
}
