// The test-support helpers for real servers work: a database is created, usable, and dropped.
import mysql from 'mysql2/promise';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createMariadbDatabase, createPostgresDatabase, serverAvailability } from '../support/databases.js';

const pgState = await serverAvailability('postgres');
const mariaState = await serverAvailability('mariadb');

describe.skipIf(!pgState.available)(`PostgreSQL test databases ${pgState.reason}`, () => {
  it('creates, uses and drops a private database', async () => {
    const db = await createPostgresDatabase();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const result = await client.query<{ d: string }>('SELECT current_database() AS d');
    await client.end();
    expect(result.rows[0]?.d).toBe(db.name);
    await db.drop();
  });
});

describe.skipIf(!mariaState.available)(`MariaDB test databases ${mariaState.reason}`, () => {
  it('creates, uses and drops a private database', async () => {
    const db = await createMariadbDatabase();
    const connection = await mysql.createConnection(db.url);
    const [rows] = await connection.query('SELECT DATABASE() AS d');
    await connection.end();
    expect((rows as { d: string }[])[0]?.d).toBe(db.name);
    await db.drop();
  });
});
