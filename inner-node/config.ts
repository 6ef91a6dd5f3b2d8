// The inner node's configuration: one YAML file, validated once at start-up (style.md rule 9).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { SOURCE_ENCODINGS } from '../shared/charset.js';
import { loadYamlConfig, parseDuration, parseSize, resolveFrom } from '../shared/config-loader.js';
import { findContract } from '../shared/contracts.js';
import { csvDelimiterProblem } from '../shared/csv.js';
import { PORTRAIT_FEATURE_NAMES, PORTRAIT_FEATURES } from '../shared/portrait.js';
import { ConfigError } from '../shared/errors.js';
import {
  ColumnMappingSchema,
  compileMapping,
  MappingFileSchema,
  type ColumnMapping,
} from '../shared/mapping.js';
import { WATERMARK_FORMATS } from '../shared/time.js';

const name = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{0,62}$/,
    'lower-case letters, digits and dashes, starting with a letter or digit',
  );
const datasetName = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'lower-case letters, digits and underscores');
const duration = z
  .string()
  .refine((s) => parseDuration(s) !== undefined, "a duration such as '30s', '5m', '7d'");
const size = z.string().refine((s) => parseSize(s) !== undefined, "a size such as '64MiB' or '512KiB'");

// Database passwords come from a file (mode 0600) or an environment variable, never the URL in a
// shared configuration file (a password in the URL is accepted but discouraged in docs/inner-node.md).
const secret = {
  password_file: z.string().optional(),
  password_env: z.string().optional(),
};
const url = (scheme: RegExp, example: string) =>
  z.string().refine((u) => {
    try {
      return scheme.test(new URL(u).protocol);
    } catch {
      return false;
    }
  }, `a URL such as ${example}`);

const SqliteSource = z.strictObject({ kind: z.literal('sqlite'), path: z.string() });
const PostgresSource = z.strictObject({
  kind: z.literal('postgres'),
  url: url(/^postgres(ql)?:$/, 'postgresql://reader@db.gov.local:5432/hukou'),
  schema: z.string().optional(),
  ...secret,
});
const MariadbSource = z.strictObject({
  kind: z.literal('mariadb'),
  url: url(/^(mysql|mariadb):$/, 'mysql://reader@db.gov.local:3306/shebao'),
  /** Overrides the columns' declared character sets, for legacy tables keeping GBK bytes in latin1. */
  encoding: z.enum(SOURCE_ENCODINGS).optional(),
  ...secret,
});
const CsvSource = z.strictObject({
  kind: z.literal('csv'),
  path: z.string(),
  encoding: z.enum(SOURCE_ENCODINGS).default('utf-8'),
  delimiter: z
    .string()
    .default(',')
    .refine(
      (d) => csvDelimiterProblem(d) === undefined,
      'one ASCII character below 0x40, such as , ; or a tab',
    ),
  null_text: z.string().optional(),
});
const SourceSchema = z.discriminatedUnion('kind', [SqliteSource, PostgresSource, MariadbSource, CsvSource]);
export type SourceSpec = z.infer<typeof SourceSchema>;

const columnName = z
  .string()
  .min(1)
  .max(64)
  .refine(
    (c) => !/["`]/.test(c) && ![...c].some((ch) => ch.charCodeAt(0) < 0x20),
    'a column name without quotes or control characters',
  );

const DatasetSchema = z.strictObject({
  contract: z.string().refine((c) => findContract(c) !== undefined, 'the name of a known data contract'),
  source: name,
  /** The table (database sources); a delimited-file source is its own table. */
  table: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a plain table name')
    .optional(),
  /** incremental: by (watermark, key) cursor; snapshot: the whole source each run, deletes as tombstones. */
  mode: z.enum(['incremental', 'snapshot']).default('incremental'),
  watermark: columnName.optional(),
  /** What to do when the source gains, loses or retypes a column (docs/inner-node.md, "Schema drift"). */
  drift: z.enum(['ignore', 'add_nullable', 'pause']).default('pause'),
  watermark_format: z.enum(WATERMARK_FORMATS).default('yyyy-MM-dd HH:mm:ss'),
  watermark_timezone: z
    .string()
    .regex(/^[+-]\d{2}:\d{2}$|^Z$/, "a UTC offset such as '+08:00'")
    .default('+08:00'),
  safety_lag: duration.default('5s'),
  interval: duration.default('1m'),
  max_reject_ratio: z.number().min(0).max(1).default(0.01),
  /** A mapping file (mappings/NAME.yaml), or the columns inline; exactly one of the two. */
  mapping: z.string().optional(),
  columns: z.record(z.string(), ColumnMappingSchema).optional(),
});
export type DatasetSpec = z.infer<typeof DatasetSchema>;

const BankSchema = z.strictObject({
  datasets: z.record(z.string(), z.union([z.literal('*'), z.array(z.string()).min(1)])),
  /**
   * Portrait features the county lets this bank receive ('*': every feature of the definition); no
   * entry: the bank gets no portraits. A portrait still needs the person's consent (design 7).
   */
  portraits: z
    .union([
      z.literal('*'),
      z
        .array(
          z.string().refine((f) => Object.hasOwn(PORTRAIT_FEATURES, f), {
            message: `not a portrait feature (known: ${PORTRAIT_FEATURE_NAMES.join(', ')})`,
          }),
        )
        .min(1),
    ])
    .optional(),
});

export const InnerConfigSchema = z
  .strictObject({
    node: z.strictObject({ name }),
    folders: z
      .strictObject({
        outbox: z.string().default('outbox'),
        inbox: z.string().default('inbox'),
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
    sources: z.record(name, SourceSchema),
    datasets: z.record(datasetName, DatasetSchema),
    banks: z.record(name, BankSchema),
    export: z
      .strictObject({
        /**
         * Threads for long SQLite exports, the main thread included (at most one per core). Default 1:
         * on a busy or two-core machine a single thread is as fast and needs less memory (docs/inner-node.md).
         */
        workers: z.number().int().min(1).max(16).default(1),
      })
      .prefault({}),
    /** The Prometheus text file for node_exporter's textfile collector (no file: no metrics written). */
    metrics: z
      .strictObject({
        file: z.string().optional(),
        interval: duration.default('15s'),
      })
      .prefault({}),
    /** The node's audit log of what crossed (hash-chained; default: state/audit.log). */
    audit: z
      .strictObject({
        file: z.string().optional(),
      })
      .prefault({}),
    /**
     * Consent-backed portraits (design 7): the county database they are computed from (a SQLite
     * source laid out like the county's tables), the poverty-alleviation roll and the definition file.
     */
    portraits: z
      .strictObject({
        source: name.optional(),
        poverty_csv: z.string().optional(),
        definition: z.string().optional(),
      })
      .prefault({}),
    bundles: z
      .strictObject({
        max_rows: z.number().int().min(1).max(1_000_000).default(50_000),
        max_bytes: size.default('64MiB'),
        expires_after: duration.default('14d'),
        retention: duration.default('14d'),
        /** How often a catalogue (heartbeat) is sent to each bank (issue 6). */
        catalogue_interval: duration.default('60s'),
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    for (const [dataset, spec] of Object.entries(config.datasets)) {
      const issue = (path: string, message: string): void =>
        ctx.addIssue({ code: 'custom', path: ['datasets', dataset, path], message });
      const source = Object.hasOwn(config.sources, spec.source) ? config.sources[spec.source] : undefined;
      if (!source) issue('source', `no source named '${spec.source}' under sources`);
      if (source && source.kind !== 'csv' && spec.table === undefined)
        issue('table', 'name the source table');
      if (spec.mode === 'incremental' && spec.watermark === undefined) {
        issue('watermark', 'an incremental dataset needs a watermark column (or set mode: snapshot)');
      }
      if ((spec.mapping === undefined) === (spec.columns === undefined)) {
        issue(
          'mapping',
          'give either a mapping file (mapping: FILE) or inline columns, not both and not neither',
        );
      }
    }
    const portraitSource = config.portraits.source;
    if (portraitSource !== undefined) {
      const source = Object.hasOwn(config.sources, portraitSource)
        ? config.sources[portraitSource]
        : undefined;
      if (source?.kind !== 'sqlite') {
        ctx.addIssue({
          code: 'custom',
          path: ['portraits', 'source'],
          message: source
            ? `portraits are computed from a SQLite county database; '${portraitSource}' is ${source.kind}`
            : `no source named '${portraitSource}' under sources`,
        });
      }
    }
    for (const [bank, spec] of Object.entries(config.banks)) {
      if (spec.portraits !== undefined && portraitSource === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['banks', bank, 'portraits'],
          message: 'portraits are granted but portraits.source names no county database',
        });
      }
      for (const [dataset, columns] of Object.entries(spec.datasets)) {
        const ds = config.datasets[dataset];
        if (!ds) {
          ctx.addIssue({
            code: 'custom',
            path: ['banks', bank, 'datasets', dataset],
            message: 'no such dataset',
          });
          continue;
        }
        const contract = findContract(ds.contract);
        if (columns === '*' || !contract) continue;
        for (const column of columns) {
          if (!contract.columns.some((c) => c.name === column)) {
            ctx.addIssue({
              code: 'custom',
              path: ['banks', bank, 'datasets', dataset],
              message: `'${column}' is not a column of contract ${contract.name}`,
            });
          }
        }
        for (const key of contract.key) {
          if (!columns.includes(key)) {
            ctx.addIssue({
              code: 'custom',
              path: ['banks', bank, 'datasets', dataset],
              message: `the key column '${key}' must be authorised, or rows cannot be applied exactly once`,
            });
          }
        }
      }
    }
  });

export type InnerConfig = z.infer<typeof InnerConfigSchema>;

export interface InnerSettings {
  config: InnerConfig;
  path: string;
  folders: Record<keyof InnerConfig['folders'], string>;
  resolve(path: string): string;
}

/** The columns of a dataset's mapping, whether inline or from its mapping file (loaded at start-up). */
export function datasetColumns(settings: InnerSettings, dataset: string): Record<string, ColumnMapping> {
  const spec = settings.config.datasets[dataset];
  if (!spec?.columns) {
    throw new ConfigError('CONFIG_INVALID', `Dataset '${dataset}' has no column mapping`, {
      where: settings.path,
    });
  }
  return spec.columns;
}

/** Loads and checks a mapping file against the contract it names or the dataset's contract. */
export function loadMappingFile(path: string, contract?: string): Record<string, ColumnMapping> {
  const loaded = loadYamlConfig(path, MappingFileSchema);
  if (contract !== undefined && loaded.config.contract !== undefined && loaded.config.contract !== contract) {
    throw new ConfigError('CONFIG_INVALID', `${path} maps to contract '${loaded.config.contract}'`, {
      problems: [`contract: the dataset uses contract '${contract}'`],
      hint: 'Point the dataset at the mapping file for its own contract',
    });
  }
  return loaded.config.columns;
}

export function loadInnerConfig(path: string): InnerSettings {
  const loaded = loadYamlConfig(path, InnerConfigSchema);
  const resolve = (p: string): string => resolveFrom(loaded.baseDir, p);
  // Mapping files are read once with the configuration, so a broken one stops start-up (rule 9).
  const problems: string[] = [];
  for (const [dataset, spec] of Object.entries(loaded.config.datasets)) {
    if (spec.mapping !== undefined) spec.columns = loadMappingFile(resolve(spec.mapping), spec.contract);
    const contract = findContract(spec.contract);
    if (!contract || !spec.columns) continue;
    // Every mapping is checked against its contract now, not at the first export of the dataset.
    try {
      compileMapping(contract, spec.columns, spec.mapping ?? `datasets.${dataset}`);
    } catch (error) {
      problems.push(
        `datasets.${dataset}${spec.mapping ? ` (${spec.mapping})` : ''}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  if (problems.length > 0) {
    throw new ConfigError('CONFIG_INVALID', `${loaded.path} has ${problems.length} problem(s)`, {
      problems,
      hint: 'Correct every item listed; the node does not start half-configured',
    });
  }
  const f = loaded.config.folders;
  return {
    config: loaded.config,
    path: loaded.path,
    resolve,
    folders: {
      outbox: resolve(f.outbox),
      inbox: resolve(f.inbox),
      state: resolve(f.state),
      keys: resolve(f.keys),
      trust: resolve(f.trust),
      rejects: resolve(f.rejects),
      quarantine: resolve(f.quarantine),
    },
  };
}

/** The node's audit log: audit.file, or audit.log in the state folder. */
export function auditLogFile(settings: InnerSettings): string {
  const file = settings.config.audit.file;
  return file !== undefined ? settings.resolve(file) : join(settings.folders.state, 'audit.log');
}

/** Most processes exporting side by side (a daemon and an 'export' command), each with its own chain. */
export const AUDIT_SLOTS = 8;

/**
 * The audit log of writer slot `slot`: slot 1 is auditLogFile(), slot n the same name with `-n` before
 * the extension (audit-2.log). Each chain has exactly one writer (crypto's lock file).
 */
export function auditSlotFile(settings: InnerSettings, slot: number): string {
  const base = auditLogFile(settings);
  if (slot === 1) return base;
  const dot = base.lastIndexOf('.');
  return dot > base.lastIndexOf('/') ? `${base.slice(0, dot)}-${slot}${base.slice(dot)}` : `${base}-${slot}`;
}

/** The audit logs that exist, slot 1 first. */
export function auditLogFiles(settings: InnerSettings): string[] {
  const files: string[] = [];
  for (let slot = 1; slot <= AUDIT_SLOTS; slot++) {
    const file = auditSlotFile(settings, slot);
    if (existsSync(file)) files.push(file);
  }
  return files;
}
