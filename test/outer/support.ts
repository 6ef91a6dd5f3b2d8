// Test support for the outer node: a real bridge (CA, keys, trust) from temporaryBridge(), a sealer
// that writes real signed and encrypted bundles for synthetic streams straight into an inbox, and
// outer-node configurations pointing at PostgreSQL or MariaDB targets with the bank's own mapping.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import {
  fingerprintContract,
  loadIdentity,
  loadTrustStore,
  recipientCertificates,
  sealBundle,
  type Identity,
  type PeerCertificate,
  type SealResult,
} from '../../crypto/index.js';
import { canonicalContract, findContract } from '../../shared/contracts.js';
import type { ContractValue } from '../../shared/mapping.js';
import { encodePayload } from '../../shared/payload.js';
import { residentIdCheckChar } from '../../shared/resident-id.js';
import { temporaryBridge } from '../support/bridge.js';

export type Bridge = Awaited<ReturnType<typeof temporaryBridge>>;

export interface Sealer {
  /** Seals one bundle of a dataset's stream into `dir` (file name <stream>.<sequence>.gbb unless given). */
  seal(request: {
    dir: string;
    dataset: string;
    stream: string;
    sequence: number;
    columns: string[];
    rows: ContractValue[][];
    kind?: 'rows' | 'tombstones';
    name?: string;
  }): Promise<SealResult>;
}

export async function makeSealer(bridge: Bridge): Promise<Sealer> {
  const passphrase = readFileSync(join(bridge.innerDir, 'keys', 'passphrase'), 'utf8').trim();
  const identity: Identity = await loadIdentity({ keysDir: join(bridge.innerDir, 'keys'), passphrase });
  const trust = await loadTrustStore(join(bridge.innerDir, 'trust'));
  const recipients: PeerCertificate[] = recipientCertificates(trust, 'bank-a', new Date());
  return {
    async seal(r) {
      const contract = findContract(r.dataset);
      if (!contract) throw new Error(`no contract ${r.dataset}`);
      const fingerprint = fingerprintContract(canonicalContract(contract));
      const kind = r.kind ?? 'rows';
      const now = new Date();
      return sealBundle({
        identity,
        recipients,
        description: {
          dataset: r.dataset,
          contract: fingerprint,
          stream: r.stream,
          sequence: r.sequence,
          rowCount: r.rows.length,
          kind,
          createdAt: now,
          expiresAt: new Date(now.getTime() + 86_400_000),
        },
        body: encodePayload({ dataset: r.dataset, contract: fingerprint, kind, columns: r.columns }, r.rows),
        outputPath: join(r.dir, r.name ?? `${r.stream}.${String(r.sequence).padStart(6, '0')}.gbb`),
      });
    },
  };
}

/** A valid 18-digit resident ID number, unique per serial (birth date and sequence from the serial). */
export function residentId(serial: number): string {
  const birth = new Date(Date.UTC(1950, 0, 1) + Math.floor(serial / 1000) * 86_400_000);
  const date = `${birth.getUTCFullYear()}${String(birth.getUTCMonth() + 1).padStart(2, '0')}${String(birth.getUTCDate()).padStart(2, '0')}`;
  const first17 = `110101${date}${String(serial % 1000).padStart(3, '0')}`;
  return `${first17}${residentIdCheckChar(first17)}`;
}

export const RESIDENT_COLUMNS = [
  'id_number',
  'name',
  'gender',
  'birth_date',
  'ethnicity',
  'marital_status',
  'address',
  'household_type',
  'updated_at',
];

const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴'];
const GIVEN = ['伟', '芳', '娜', '敏', '静', '丽', '强', '磊', '洋', '艳', '勇', '军'];

/** A residents contract row, deterministic for (serial, version). */
export function residentRow(serial: number, version = 1): ContractValue[] {
  const id = residentId(serial);
  const name = `${SURNAMES[serial % SURNAMES.length] ?? '王'}${GIVEN[(serial * 7 + version) % GIVEN.length] ?? '伟'}`;
  const birth = `${id.slice(6, 10)}-${id.slice(10, 12)}-${id.slice(12, 14)}`;
  return [
    id,
    name,
    serial % 2 === 0 ? 'male' : 'female',
    birth,
    serial % 5 === 0 ? null : '01',
    null,
    `安徽省某县某镇${serial % 97}号 v${version}`,
    serial % 3 === 0 ? 'urban' : 'rural',
    `2024-0${1 + (version % 9)}-15T08:${String(serial % 60).padStart(2, '0')}:00+08:00`,
  ];
}

/** Replaces the target and datasets sections of the bridge's outer configuration. */
export function writeOuterConfig(
  bridge: Bridge,
  sections: { target: string; datasets: string; importSettings?: string },
): void {
  const path = bridge.outerConfig;
  const text = readFileSync(path, 'utf8');
  const head = text.slice(0, text.indexOf('target:'));
  writeFileSync(
    path,
    `${head}target:\n${sections.target}\n\ndatasets:\n${sections.datasets}\n\nimport:\n${sections.importSettings ?? '  poll_interval: 200ms\n  settle: 0s'}\n`,
  );
}

/** The bank's residents table for server targets: other names, other order, other types. */
export const BANK_RESIDENT_MAPPING = `  residents:
    table: KH_GOV_RESIDENT
    columns:
      id_number: SFZH
      name: XM
      gender: { column: XB, codes: { male: '1', female: '2' } }
      birth_date: { column: CSRQ, convert: date_compact }
      address: DZ
      household_type: HJLX
      updated_at: GXSJ`;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until check() returns true, polling; throws with `what` after the timeout. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // A check that throws (a table not created yet) counts as not yet.
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export { temporaryBridge };

/** The bank's residents table in PostgreSQL (names folded to lower case, another order, other types). */
export const PG_RESIDENT_TABLE = `CREATE TABLE kh_gov_resident (
  gxsj timestamp without time zone,
  "DZ" text,
  xm varchar(16) NOT NULL,
  hjlx varchar(10),
  sfzh char(18) PRIMARY KEY,
  csrq char(8),
  xb char(1)
)`;

/** Row count and SHA-256 of [sfzh, xm, DZ] lines in key order (compare with residentsDigestSql). */
export function residentsDigest(rows: string[][]): { rows: number; digest: string } {
  const hash = createHash('sha256');
  for (const row of rows) hash.update(`${row.join('|')}\n`);
  return { rows: rows.length, digest: hash.digest('hex') };
}

/** Reads the bank's residents table from PostgreSQL in key order, as [sfzh, xm, DZ]. */
export async function pgResidents(url: string): Promise<string[][]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ sfzh: string; xm: string; DZ: string }>(
      'SELECT sfzh, xm, "DZ" FROM kh_gov_resident ORDER BY sfzh',
    );
    return rows.map((r) => [r.sfzh, r.xm, r.DZ]);
  } finally {
    await client.end();
  }
}

/** One query on a fresh connection (the server may have been restarted in between). */
export async function pgValue(url: string, sql: string): Promise<number> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(sql);
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

/** Expected bank rows after applying contract rows in order: [sfzh, xm, DZ] sorted by sfzh. */
export function expectedResidents(
  bundles: { rows: ContractValue[][]; kind?: 'rows' | 'tombstones' }[],
): string[][] {
  const state = new Map<string, string[]>();
  for (const bundle of bundles) {
    for (const row of bundle.rows) {
      const id = String(row[0]);
      if (bundle.kind === 'tombstones') state.delete(id);
      else state.set(id, [id, String(row[1]), String(row[6])]);
    }
  }
  return [...state.values()].sort((a, b) => (a[0] ?? '').localeCompare(b[0] ?? ''));
}
