/**
 * The processes bench:proxy measures, each a child of its own so that the
 * load generator (the bench), the upstream and each proxy run on separate
 * event loops. Each child announces its URL on one line; the bench ends them
 * by closing their stdin (the two small ones) or by SIGTERM (ours).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface Child {
  name: string;
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STARTUP_MS = 30_000;

/** Spawns `args` under node and resolves with the URL `pick` finds in its output lines. */
function start(name: string, args: string[], stream: 'stdout' | 'stderr', pick: (line: string) => string | undefined): Promise<Child> {
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = createInterface({ input: proc[stream] as NodeJS.ReadableStream });
  const other = stream === 'stdout' ? proc.stderr : proc.stdout;
  let tail = '';
  other?.on('data', (c: Buffer) => (tail = (tail + c.toString('utf8')).slice(-2000)));
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.stdin?.end();
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${name} did not start within ${STARTUP_MS} ms: ${tail}`));
    }, STARTUP_MS);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before it listened: ${tail}`));
    });
    lines.on('line', (line) => {
      const url = pick(line);
      if (url === undefined) return;
      clearTimeout(timer);
      // Keep draining its output so a chatty child never blocks on a full pipe.
      resolve({ name, url, proc, stop });
    });
  });
}

const urlLine = (line: string): string | undefined => {
  try {
    return (JSON.parse(line) as { url?: string }).url;
  } catch {
    return undefined;
  }
};

export function startUpstream(): Promise<Child> {
  return start('upstream', ['--import', 'tsx', 'bench/proxy/upstream.ts'], 'stdout', urlLine);
}

export function startMinimalProxy(upstream: string): Promise<Child> {
  return start('minimal', ['--import', 'tsx', 'bench/proxy/minimal-proxy.ts', upstream], 'stdout', urlLine);
}

/** `steadystate proxy` as users start it (three --route patterns), with `workers` workers; its URL comes from its "listening" log line. */
export function startOurProxy(upstream: string, workers: number): Promise<Child> {
  const args = ['bin/steadystate.js', 'proxy', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--upstream', upstream];
  args.push('--sticky-header', 'x-user-id', '--workers', String(workers));
  // Routes as a user judging journeys configures them: the route label's lookup is part of the cost.
  args.push('--route', '/checkout', '--route', '/api/*', '--route', '/static/*');
  return start(`ours ×${workers}`, args, 'stderr', (line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; listen?: string };
      return entry.msg === 'fault proxy listening' ? entry.listen : undefined;
    } catch {
      return undefined;
    }
  });
}

/**
 * CPU seconds used so far by `pid` and its direct children (a proxy's workers), from /proc;
 * undefined where /proc is not there. Less noisy than throughput on a shared machine.
 */
export function cpuSeconds(pid: number): number | undefined {
  const ticksOf = (p: number | string): number => {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  };
  try {
    let ticks = ticksOf(pid);
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === pid) ticks += ticksOf(entry);
      } catch {
        // Gone meanwhile.
      }
    }
    // USER_HZ is 100 on every Linux that matters here.
    return ticks / 100;
  } catch {
    return undefined;
  }
}
