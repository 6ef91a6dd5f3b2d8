// The inner node's configuration: one YAML file, validated once at start-up (style.md rule 9).
import { z } from 'zod';
import { loadYamlConfig, parseDuration, parseSize, resolveFrom } from '../shared/config-loader.js';
import { findContract } from '../shared/contracts.js';
import { ColumnMappingSchema } from '../shared/mapping.js';
import { WATERMARK_FORMATS } from '../shared/time.js';

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes, starting with a letter or digit');
const datasetName = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'lower-case letters, digits and underscores');
const duration = z.string().refine((s) => parseDuration(s) !== undefined, "a duration such as '30s', '5m', '7d'");
const size = z.string().refine((s) => parseSize(s) !== undefined, "a size such as '64MiB' or '512KiB'");

const SqliteSource = z.strictObject({ kind: z.literal('sqlite'), path: z.string() });
const SourceSchema = z.discriminatedUnion('kind', [SqliteSource]);

const DatasetSchema = z.strictObject({
  contract: z.string().refine((c) => findContract(c) !== undefined, 'the name of a known data contract'),
  source: name,
  table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a plain table name'),
  watermark: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a plain column name'),
  watermark_format: z.enum(WATERMARK_FORMATS).default('yyyy-MM-dd HH:mm:ss'),
  watermark_timezone: z.string().regex(/^[+-]\d{2}:\d{2}$|^Z$/, "a UTC offset such as '+08:00'").default('+08:00'),
  safety_lag: duration.default('5s'),
  interval: duration.default('1m'),
  max_reject_ratio: z.number().min(0).max(1).default(0.01),
  columns: z.record(z.string(), ColumnMappingSchema),
});

const BankSchema = z.strictObject({
  datasets: z.record(z.string(), z.union([z.literal('*'), z.array(z.string()).min(1)])),
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
    bundles: z
      .strictObject({
        max_rows: z.number().int().min(1).max(1_000_000).default(50_000),
        max_bytes: size.default('64MiB'),
        expires_after: duration.default('14d'),
        retention: duration.default('14d'),
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    for (const [dataset, spec] of Object.entries(config.datasets)) {
      if (!Object.hasOwn(config.sources, spec.source)) {
        ctx.addIssue({
          code: 'custom',
          path: ['datasets', dataset, 'source'],
          message: `no source named '${spec.source}' under sources`,
        });
      }
    }
    for (const [bank, spec] of Object.entries(config.banks)) {
      for (const [dataset, columns] of Object.entries(spec.datasets)) {
        const ds = config.datasets[dataset];
        if (!ds) {
          ctx.addIssue({ code: 'custom', path: ['banks', bank, 'datasets', dataset], message: 'no such dataset' });
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

export function loadInnerConfig(path: string): InnerSettings {
  const loaded = loadYamlConfig(path, InnerConfigSchema);
  const resolve = (p: string): string => resolveFrom(loaded.baseDir, p);
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
