// Small helpers shared by the four command-line programs: thin CLIs that parse flags, call the
// library and print (style.md rule 10).
import { describeError, BridgeError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { maskResidentIdsInText } from './resident-id.js';

/** Runs a command's action, printing a clear message (never a stack) and exiting non-zero on error. */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<void> | void,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (error) {
      const code = error instanceof BridgeError ? ` [${error.code}]` : '';
      process.stderr.write(`error${code}: ${maskResidentIdsInText(describeError(error))}\n`);
      if (process.env['BRIDGE_DEBUG'] && error instanceof Error && error.stack) {
        process.stderr.write(`${maskResidentIdsInText(error.stack)}\n`);
      }
      process.exitCode = error instanceof BridgeError ? 2 : 1;
    }
  };
}

export function cliLogger(name: string, verbose = false): Logger {
  return createLogger({
    name,
    level: verbose ? 'debug' : ((process.env['BRIDGE_LOG_LEVEL'] as 'info') ?? 'warn'),
  });
}

/** Resolves when SIGINT or SIGTERM arrives; daemons finish the current transaction, then stop. */
export function stopSignal(): {
  readonly stopped: boolean;
  wait(ms: number): Promise<void>;
  promise: Promise<void>;
} {
  let resolveStop: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => (resolveStop = resolve));
  const state = {
    stopped: false,
    promise,
    async wait(ms: number) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((r) => (timer = setTimeout(r, ms))), promise]);
      clearTimeout(timer);
    },
  };
  const onSignal = (): void => {
    state.stopped = true;
    resolveStop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return state;
}

/** A progress line on a terminal (rows, bytes, rate); silent when standard error is not a TTY. */
export function progressLine(label: string): {
  update(rows: number, bytes: number, total?: number): void;
  done(): void;
} {
  const tty = process.stderr.isTTY;
  const started = Date.now();
  let last = 0;
  return {
    update(rows, bytes, total) {
      if (!tty) return;
      const now = Date.now();
      if (now - last < 200) return;
      last = now;
      const seconds = Math.max((now - started) / 1000, 0.001);
      const rate = rows / seconds;
      const eta = total && rate > 0 ? ` ETA ${Math.max(0, (total - rows) / rate).toFixed(0)}s` : '';
      const of = total ? `/${total.toLocaleString('en-US')}` : '';
      process.stderr.write(
        `\r${label}: ${rows.toLocaleString('en-US')}${of} rows, ${(bytes / 1048576).toFixed(1)} MiB, ${Math.round(rate).toLocaleString('en-US')} rows/s${eta}   `,
      );
    },
    done() {
      if (tty) process.stderr.write('\n');
    },
  };
}

export function parseIntervalOption(text: string): number {
  const match = /^(\d+)(ms|s|m)?$/.exec(text);
  if (!match) throw new Error(`not an interval: ${text} (use e.g. 500ms, 1s, 2m)`);
  const unit = match[2] ?? 's';
  return Number(match[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000);
}
