// Opening a node's own state database (SQLite, WAL). Two processes may open a fresh state folder at the
// same moment (two `outer-node run` on one inbox, or `inner-node export` beside the daemon): switching a
// new file to WAL and creating its tables need a write lock, and SQLite answers SQLITE_BUSY at once,
// without waiting out the busy timeout, when waiting could deadlock. The open is therefore retried as a
// whole for a while; any other failure is thrown at once.
import Database from 'better-sqlite3';

/** How long opening keeps retrying a busy database before giving up. */
const OPEN_RETRY_MS = 15_000;
const OPEN_PAUSE_MS = 50;

const sleepSync = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

const isBusy = (error: unknown): boolean =>
  typeof error === 'object' &&
  error !== null &&
  'code' in error &&
  typeof error.code === 'string' &&
  (error.code === 'SQLITE_BUSY' || error.code.startsWith('SQLITE_BUSY_') || error.code === 'SQLITE_LOCKED');

/**
 * Opens `path` with a busy timeout set before anything else, runs `init` (pragmas, schema), and
 * retries the whole on SQLITE_BUSY for up to 15 s. The connection is closed when `init` fails.
 */
export function openStateDatabase(
  path: string,
  init: (db: Database.Database) => void,
  busyTimeoutMs = 10_000,
): Database.Database {
  const deadline = Date.now() + OPEN_RETRY_MS;
  for (;;) {
    const db = new Database(path, { timeout: busyTimeoutMs });
    try {
      init(db);
      return db;
    } catch (error) {
      db.close();
      if (!isBusy(error) || Date.now() > deadline) throw error;
      sleepSync(OPEN_PAUSE_MS);
    }
  }
}
