// Logging: pino JSON lines. Secrets are redacted by key name; resident ID numbers are masked to
// first-6/last-4 in every line on its way out, wherever in the record they appear (message, fields,
// error text), because masking at the sink is the one place nothing can slip past.
import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';
import { maskResidentIdsInText } from './resident-id.js';

export type { Logger } from 'pino';

const SECRET_KEYS = [
  'passphrase',
  'password',
  'secret',
  'privateKey',
  'private_key',
  'pin',
  'token',
  'dataKey',
  'authorization',
];

/** Redaction paths for secret-named keys at the top level and up to four levels down. */
export const REDACT_PATHS = SECRET_KEYS.flatMap((key) => [
  key,
  `*.${key}`,
  `*.*.${key}`,
  `*.*.*.${key}`,
  `*.*.*.*.${key}`,
]);

export interface LoggerOptions {
  name: string;
  level?: LevelWithSilent;
  /** Where lines go; defaults to standard error so that standard output stays for command results. */
  destination?: { write(line: string): unknown };
}

export function createLogger(options: LoggerOptions): Logger {
  const sink = options.destination ?? process.stderr;
  const masked: DestinationStream = {
    write(line: string) {
      sink.write(maskResidentIdsInText(line));
    },
  };
  return pino(
    {
      name: options.name,
      level: options.level ?? (process.env['BRIDGE_LOG_LEVEL'] as LevelWithSilent | undefined) ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    masked,
  );
}
