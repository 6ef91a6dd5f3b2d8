// Real database servers for tests: each test gets its own PostgreSQL database or MariaDB database,
// dropped afterwards. Under CI=true a missing server is a failure; on a laptop without one the suite
// is skipped with a message that says why.
import mysql from 'mysql2/promise';
import pg from 'pg';

export const PG_URL = process.env['BRIDGE_TEST_PG'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
export const MARIADB = {
  host: process.env['BRIDGE_TEST_MARIADB_HOST'] ?? '127.0.0.1',
  port: Number(process.env['BRIDGE_TEST_MARIADB_PORT'] ?? 3306),
  user: process.env['BRIDGE_TEST_MARIADB_USER'] ?? 'root',
  password: process.env['BRIDGE_TEST_MARIADB_PASSWORD'] ?? '',
};

const CI = process.env['CI'] === 'true';

async function reachable(check: () => Promise<void>): Promise<string | undefined> {
  try {
    await check();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

export interface Availability {
  available: boolean;
  reason: string;
}

/**
 * Whether a server is reachable. Under CI=true an unreachable server throws (the suite fails);
 * otherwise the caller skips with `reason` in the skip message.
 */
export async function serverAvailability(kind: 'postgres' | 'mariadb'): Promise<Availability> {
  const problem =
    kind === 'postgres'
      ? await reachable(async () => {
          const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
          await client.connect();
          await client.end();
        })
      : await reachable(async () => {
          const connection = await mysql.createConnection({ ...MARIADB, connectTimeout: 3000 });
          await connection.end();
        });
  if (!problem) return { available: true, reason: '' };
  const reason = `${kind} server not reachable (${problem}); start it or set BRIDGE_TEST_${kind === 'postgres' ? 'PG' : 'MARIADB_HOST'}`;
  if (CI) throw new Error(`CI=true and ${reason}`);
  process.stderr.write(`SKIPPED: ${reason}\n`);
  return { available: false, reason };
}

function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export interface TestDatabase {
  name: string;
  /** Connection URL (PostgreSQL) or options (MariaDB) for the new database. */
  url: string;
  drop(): Promise<void>;
}

/** Creates a fresh PostgreSQL database; drop() removes it (terminating leftover sessions). */
export async function createPostgresDatabase(prefix = 'gbb_test'): Promise<TestDatabase> {
  const name = uniqueName(prefix).toLowerCase();
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Creates a fresh MariaDB database (utf8mb4 unless a charset is given); drop() removes it. */
export async function createMariadbDatabase(prefix = 'gbb_test', charset = 'utf8mb4'): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  const connection = await mysql.createConnection(MARIADB);
  try {
    await connection.query(`CREATE DATABASE \`${name}\` CHARACTER SET ${charset}`);
  } finally {
    await connection.end();
  }
  const url = `mysql://${encodeURIComponent(MARIADB.user)}:${encodeURIComponent(MARIADB.password)}@${MARIADB.host}:${MARIADB.port}/${name}`;
  return {
    name,
    url,
    async drop() {
      const c = await mysql.createConnection(MARIADB);
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await c.end();
      }
    },
  };
}
