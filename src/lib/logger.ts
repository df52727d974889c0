/**
 * Structured JSON logs (pino) on stderr, so stdout stays free for `--json`.
 * Known secret-bearing fields are censored as a second line of defence; the
 * first is not logging them.
 */
import { pino, type Logger } from 'pino';

export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      name: opts.name ?? 'steadystate',
      level: opts.level ?? process.env.STEADYSTATE_LOG_LEVEL ?? 'info',
      redact: {
        paths: [
          'headers.authorization',
          '*.headers.authorization',
          'headers.Authorization',
          '*.headers.Authorization',
          'token',
          '*.token',
          'password',
          '*.password',
          'apiKey',
          '*.apiKey',
        ],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
