/**
 * The demo's traffic, in a process of its own: real users do not share an
 * event loop with the service that watches them, and a load generator that
 * does stutters whenever the service (or the embedded scraper) is busy, which
 * shows up as noise in every per-group rate. Options arrive as JSON in argv[2];
 * SIGTERM stops it. Bounded by the load generator's own caps (the playground's
 * `untilStopped` load by its signal: SIGTERM, SIGINT or losing its parent).
 */
import { runLoad, type LoadOptions } from './load-generator.ts';

const opts = JSON.parse(process.argv[2] ?? '{}') as Omit<LoadOptions, 'signal'>;
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
process.once('SIGINT', () => stop.abort());
// Started with an IPC channel (the playground): its parent gone, by a crash included, the load stops too.
if (process.connected) process.once('disconnect', () => stop.abort());
const summary = await runLoad({ ...opts, signal: stop.signal });
process.stdout.write(`${JSON.stringify({ sent: summary.sent, errors: summary.errors })}\n`);
// An open IPC channel would keep this process alive after the load has stopped.
if (process.connected) process.disconnect();
