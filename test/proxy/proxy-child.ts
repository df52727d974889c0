/**
 * Child process for the signal test: `steadystate proxy` as the CLI runs it,
 * printing its URLs and every window it closes as JSON lines on stdout.
 */
import { pino } from 'pino';
import { runProxyCommand } from '../../src/proxy/command.ts';

const upstream = process.argv[2] ?? 'http://127.0.0.1:1';
const proxy = await runProxyCommand(
  { listen: '127.0.0.1:0', admin: '127.0.0.1:0', upstream, controlPercent: '5', experimentPercent: '5', stickyHeader: 'x-user-id' },
  { logger: pino({ level: 'silent' }) },
);
proxy.events.on('closed', (w) => process.stdout.write(`${JSON.stringify({ closed: w })}\n`));
process.stdout.write(`${JSON.stringify({ listenUrl: proxy.listenUrl, adminUrl: proxy.adminUrl })}\n`);
