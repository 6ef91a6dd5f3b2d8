// The outer node's configuration: one YAML file, validated once at start-up (style.md rule 9).
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { loadYamlConfig, parseDuration, resolveFrom } from '../shared/config-loader.js';
import { findContract } from '../shared/contracts.js';

const name = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{0,62}$/,
    'lower-case letters, digits and dashes, starting with a letter or digit',
  );
const identifier = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a plain SQL identifier (letters, digits, _)');
const duration = z.string().refine((s) => parseDuration(s) !== undefined, "a duration such as '2s', '5m'");

const offset = z.string().regex(/^[+-]\d{2}:\d{2}$|^Z$/, "an explicit UTC offset such as '+08:00'");

const SqliteTarget = z.strictObject({ kind: z.literal('sqlite'), path: z.string() });
/** Server targets: a URL, or host/port/database/user with the password read from an environment variable. */
const serverTarget = <K extends 'postgres' | 'mariadb'>(kind: K, defaultPort: number) =>
  z
    .strictObject({
      kind: z.literal(kind),
      url: z.string().optional(),
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(1).max(65535).default(defaultPort),
      database: z.string().optional(),
      user: z.string().optional(),
      password_env: z.string().optional(),
      /** Offset used to store contract timestamps in columns without a time zone (DATETIME, timestamp). */
      naive_time_offset: offset.default('+08:00'),
    })
    .refine((t) => t.url !== undefined || t.database !== undefined, {
      message: 'give either url or database (with host, port, user and password_env)',
    });
const PostgresTarget = serverTarget('postgres', 5432);
const MariadbTarget = serverTarget('mariadb', 3306);
const TargetSchema = z.discriminatedUnion('kind', [
  SqliteTarget.extend({ naive_time_offset: offset.default('+08:00') }),
  PostgresTarget,
  MariadbTarget,
]);

/** Target-side conversions (the bank's representation of a contract value). */
export const CONVERSIONS = [
  'date_compact',
  'month_compact',
  'yuan_to_fen',
  'boolean_yn',
  'boolean_10',
] as const;
export type Conversion = (typeof CONVERSIONS)[number];

const ColumnSpec = z.union([
  identifier,
  z.strictObject({
    column: identifier,
    /** date_compact: 2024-01-31 to 20240131; month_compact: 2024-01 to 202401; yuan_to_fen: 12.34 to 1234; boolean_yn / boolean_10. */
    convert: z.enum(CONVERSIONS).optional(),
    /** Enum values to the bank's codes, e.g. { male: '1', female: '2' }. */
    codes: z.record(z.string(), z.string()).optional(),
  }),
]);
export type ColumnSpec = z.infer<typeof ColumnSpec>;

const DatasetSchema = z.strictObject({
  table: identifier,
  /** Contract column to bank column (a name, or { column, convert, codes }); unlisted columns are not stored. */
  columns: z.record(z.string(), ColumnSpec),
});

/** The bank column name of a column spec. */
export function bankColumn(spec: ColumnSpec | undefined): string | undefined {
  return spec === undefined ? undefined : typeof spec === 'string' ? spec : spec.column;
}

export const OuterConfigSchema = z
  .strictObject({
    node: z.strictObject({ name }),
    folders: z
      .strictObject({
        inbox: z.string().default('inbox'),
        outbox: z.string().default('outbox'),
        state: z.string().default('state'),
        keys: z.string().default('keys'),
        trust: z.string().default('trust'),
        rejects: z.string().default('rejects'),
        quarantine: z.string().default('quarantine'),
      })
      .prefault({}),
    keys: z
      .strictObject({
        passphrase_file: z.string().optional(),
        passphrase_env: z.string().default('BRIDGE_KEY_PASSPHRASE'),
      })
      .prefault({}),
    senders: z.array(name).min(1, 'list at least one inner node whose bundles this bank accepts'),
    target: TargetSchema,
    datasets: z.record(z.string(), DatasetSchema),
    import: z
      .strictObject({
        poll_interval: duration.default('2s'),
        workers: z.number().int().min(1).max(64).default(1),
        batch_rows: z.number().int().min(1).max(100_000).default(5_000),
        /** A file is claimed only once its size and time have not changed for this long. */
        settle: duration.default('1s'),
        /** A truncated bundle younger than this (by modification time) is waited for, not quarantined. */
        truncated_grace: duration.default('2m'),
        /** A worker whose lease file was not refreshed for this long is dead; its claims are taken over. */
        lease_timeout: duration.default('30s'),
        /** Transient failures are retried after 1s, 2s, 4s, ... with jitter, never waiting longer than this. */
        retry_max_delay: duration.default('5m'),
        retry_base_delay: duration.default('1s'),
        /** A bundle with more rejected rows than max(max_rejected_rows, max_reject_ratio x rows) is quarantined. */
        max_rejected_rows: z.number().int().min(0).default(10),
        max_reject_ratio: z.number().min(0).max(1).default(0.01),
        /** A stream waiting this long for the same missing sequence asks the inner node to resend it. */
        resend_after: duration.default('30s'),
      })
      .prefault({}),
    /** The Prometheus text file for node_exporter's textfile collector (no file: no metrics written). */
    metrics: z
      .strictObject({
        file: z.string().optional(),
        interval: duration.default('5s'),
      })
      .prefault({}),
    /** Lending (design 7): answer lend_applications in lend_decisions with this model and policy. */
    lending: z
      .strictObject({
        model: z.string().optional(),
        policy: z.string().optional(),
        /** The SQLite database holding the lend_* tables (default: the SQLite bank target). */
        db: z.string().optional(),
        /** Whether `outer-node run` answers applications (when model and policy are given). */
        watch: z.boolean().default(true),
        /** How often the applications table is looked at. */
        interval: duration.default('1s'),
        /** How long an application waits for a portrait from the county before it is referred. */
        portrait_wait: duration.default('10m'),
      })
      .prefault({}),
    /** The node's audit log of what crossed (hash-chained; default: state/audit.log). */
    audit: z
      .strictObject({
        file: z.string().optional(),
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    const lending = config.lending;
    if ((lending.model === undefined) !== (lending.policy === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['lending'],
        message: 'give both model and policy (or neither)',
      });
    }
    if (lending.model !== undefined && lending.db === undefined && config.target.kind !== 'sqlite') {
      ctx.addIssue({
        code: 'custom',
        path: ['lending'],
        message:
          'the lending tables live in a SQLite database: give lending.db when the bank target is not SQLite',
      });
    }
    for (const [dataset, spec] of Object.entries(config.datasets)) {
      const contract = findContract(dataset);
      if (!contract) {
        ctx.addIssue({
          code: 'custom',
          path: ['datasets', dataset],
          message: 'not the name of a known data contract',
        });
        continue;
      }
      const seen = new Map<string, string>();
      for (const [column, columnSpec] of Object.entries(spec.columns)) {
        const definition = contract.columns.find((c) => c.name === column);
        if (!definition) {
          ctx.addIssue({
            code: 'custom',
            path: ['datasets', dataset, 'columns', column],
            message: `not a column of contract ${dataset}`,
          });
          continue;
        }
        const target = bankColumn(columnSpec) ?? column;
        const previous = seen.get(target.toLowerCase());
        if (previous) {
          ctx.addIssue({
            code: 'custom',
            path: ['datasets', dataset, 'columns', column],
            message: `bank column ${target} is already mapped from ${previous}`,
          });
        }
        seen.set(target.toLowerCase(), column);
        const problem =
          typeof columnSpec === 'string' ? undefined : conversionProblem(definition.type.kind, columnSpec);
        if (problem)
          ctx.addIssue({ code: 'custom', path: ['datasets', dataset, 'columns', column], message: problem });
      }
      for (const key of contract.key) {
        const keySpec = spec.columns[key];
        if (keySpec !== undefined && typeof keySpec !== 'string' && (keySpec.convert || keySpec.codes)) {
          ctx.addIssue({
            code: 'custom',
            path: ['datasets', dataset, 'columns', key],
            message: 'a key column is stored as it is (no convert or codes), so tombstones find their rows',
          });
        }
        if (!keySpec) {
          ctx.addIssue({
            code: 'custom',
            path: ['datasets', dataset, 'columns'],
            message: `the key column '${key}' must be mapped, or rows cannot be applied exactly once`,
          });
        }
      }
    }
  });

/** Which contract types a conversion applies to. */
function conversionProblem(
  kind: string,
  spec: { convert?: Conversion | undefined; codes?: Record<string, string> | undefined },
): string | undefined {
  const fits: Record<Conversion, string[]> = {
    date_compact: ['date'],
    month_compact: ['month'],
    yuan_to_fen: ['decimal'],
    boolean_yn: ['boolean'],
    boolean_10: ['boolean'],
  };
  if (spec.convert && !fits[spec.convert].includes(kind)) {
    return `convert ${spec.convert} applies to ${fits[spec.convert].join('/')} columns, not ${kind}`;
  }
  if (spec.codes && kind !== 'enum') return `codes apply to enum columns, not ${kind}`;
  return undefined;
}

export type OuterConfig = z.infer<typeof OuterConfigSchema>;
export type TargetConfig = OuterConfig['target'];

export interface OuterSettings {
  config: OuterConfig;
  path: string;
  folders: Record<keyof OuterConfig['folders'], string>;
  resolve(path: string): string;
}

export function loadOuterConfig(path: string): OuterSettings {
  const loaded = loadYamlConfig(path, OuterConfigSchema);
  const resolve = (p: string): string => resolveFrom(loaded.baseDir, p);
  const f = loaded.config.folders;
  return {
    config: loaded.config,
    path: loaded.path,
    resolve,
    folders: {
      inbox: resolve(f.inbox),
      outbox: resolve(f.outbox),
      state: resolve(f.state),
      keys: resolve(f.keys),
      trust: resolve(f.trust),
      rejects: resolve(f.rejects),
      quarantine: resolve(f.quarantine),
    },
  };
}

/** The SQLite database holding the lending tables: lending.db, or the SQLite bank target; undefined otherwise. */
export function lendingDatabase(settings: OuterSettings): string | undefined {
  const { lending, target } = settings.config;
  if (lending.db !== undefined) return settings.resolve(lending.db);
  return target.kind === 'sqlite' ? settings.resolve(target.path) : undefined;
}

/** The node's audit log: audit.file, or audit.log in the state folder. */
export function auditLogFile(settings: OuterSettings): string {
  const file = settings.config.audit.file;
  return file !== undefined ? settings.resolve(file) : `${settings.folders.state}/audit.log`;
}

/**
 * The audit log of writer slot `slot`: slot 1 is auditLogFile(), slot n the same name with `-n`
 * before the extension. Each process that imports holds one slot (one writer per chain).
 */
export function auditSlotFile(settings: OuterSettings, slot: number): string {
  const base = auditLogFile(settings);
  if (slot <= 1) return base;
  const dot = base.lastIndexOf('.');
  return dot > base.lastIndexOf('/') ? `${base.slice(0, dot)}-${slot}${base.slice(dot)}` : `${base}-${slot}`;
}

/** Most processes importing side by side, each writing its own audit chain. */
export const AUDIT_SLOTS = 16;

/** The audit logs that exist, slot 1 first. */
export function auditLogFiles(settings: OuterSettings): string[] {
  const files: string[] = [];
  for (let slot = 1; slot <= AUDIT_SLOTS; slot++) {
    const file = auditSlotFile(settings, slot);
    if (existsSync(file)) files.push(file);
  }
  return files;
}
