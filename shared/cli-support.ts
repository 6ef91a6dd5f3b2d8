// Small helpers shared by the four command-line programs: thin CLIs that parse flags, call the
// library and print (style.md rule 10).
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describeError, BridgeError, ConfigError } from './errors.js';
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

/** A daemon's view of SIGINT/SIGTERM (see stopSignal). */
export interface StopSignal {
  /** True once SIGINT or SIGTERM has arrived. */
  readonly stopped: boolean;
  /** Waits `ms`, or less: resolves as soon as the stop arrives, and leaves no timer behind. */
  wait(ms: number): Promise<void>;
  /** Resolves when the stop arrives. */
  promise: Promise<void>;
}

/**
 * Resolves when SIGINT or SIGTERM arrives; daemons finish the current transaction, then stop.
 *
 * Daemon commands call it first, before opening keys, databases or folders (style.md rule 10): from
 * then on a signal at any moment of start-up is a stop request, which start-up looks at between its
 * steps, ending with exit code 0 once what was opened is closed, instead of the default action that
 * kills the process half-started (exit code null). Only the first signal is caught: a second one ends
 * the process at once, for an operator who will not wait for the current transaction. A signal that
 * arrives before the program's modules have loaded (the first few hundred milliseconds after exec, more
 * on a loaded machine) reaches no JavaScript at all: the process ends by the signal itself, having
 * opened nothing (no exit code; status 143 for SIGTERM in a shell; systemd counts it as a clean stop).
 */
export function stopSignal(): StopSignal {
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

/**
 * Resolves once the event loop has polled for I/O again, so that the handler of a signal that arrived
 * during synchronous work (most of a daemon's start-up: keys, SQLite, configuration) has run and
 * StopSignal.stopped tells the truth. One setImmediate can run before that poll; two cannot.
 */
export async function handlePendingSignals(): Promise<void> {
  await nextTurn();
  await nextTurn();
}

/**
 * The last step of a daemon command, once it has stopped (or failed to start) and closed what it
 * opened: if the process is still alive `graceMs` later, something left open keeps it so (a timer, a
 * socket, a worker thread). Seen: a start-up that fails after the bank database was connected (the
 * state database busy) left that connection open, and the process, its error printed, lived on until
 * killed. A daemon that is done must never hang, so it names what is left in the log and exits with
 * the exit code it already has. The timer is unref'd: a clean end does not wait for it.
 */
export function exitWhenIdle(logger: Logger, graceMs = 3000): void {
  setTimeout(() => {
    logger.warn(
      { pending: process.getActiveResourcesInfo() },
      'done, but something left open still holds the process; exiting anyway',
    );
    process.exit();
  }, graceMs).unref();
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

/** An ISO 8601 instant with its offset, for --from/--to. */
export function instantOption(name: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (!/(Z|[+-]\d{2}:\d{2})$/.test(text) || Number.isNaN(ms)) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `--${name} ${text} is not an instant with an offset, such as 2026-11-15T00:00:00+08:00`,
    );
  }
  return new Date(ms);
}

/** --from/--to for audit export: an instant with offset, or a day (its start at the node's offset). */
export function dayOrInstantOption(name: string, text: string, offset: string): Date {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00${offset}` : text;
  return instantOption(name, day) ?? new Date(Number.NaN);
}

/** Prints an audit verify/export report; exit code 2 when a chain is broken. */
export function printAuditReport(report: { lines: string[]; broken: boolean }): void {
  for (const line of report.lines) process.stdout.write(`${line}\n`);
  if (report.broken) process.exitCode = 2;
}

/** Inclusive ranges as text: 2, 5-7. */
export function describeRanges(ranges: readonly (readonly [number, number])[]): string {
  return ranges.map(([from, to]) => (from === to ? `${from}` : `${from}-${to}`)).join(', ');
}

/** Rows under headers in aligned columns: the first and last left-aligned, the others right-aligned. */
export function alignedTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => {
        const width = widths[i] ?? cell.length;
        return i === 0 || i === cells.length - 1 ? cell.padEnd(width) : cell.padStart(width);
      })
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}
