// The outer node's configuration: one YAML file, validated once at start-up (style.md rule 9).
import { z } from 'zod';
import { loadYamlConfig, parseDuration, resolveFrom } from '../shared/config-loader.js';
import { findContract } from '../shared/contracts.js';

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes, starting with a letter or digit');
const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a plain SQL identifier (letters, digits, _)');
const duration = z.string().refine((s) => parseDuration(s) !== undefined, "a duration such as '2s', '5m'");

const SqliteTarget = z.strictObject({ kind: z.literal('sqlite'), path: z.string() });
const TargetSchema = z.discriminatedUnion('kind', [SqliteTarget]);

const DatasetSchema = z.strictObject({
  table: identifier,
  /** Contract column to bank column; contract columns not listed are not stored. */
  columns: z.record(z.string(), identifier),
});

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
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    for (const [dataset, spec] of Object.entries(config.datasets)) {
      const contract = findContract(dataset);
      if (!contract) {
        ctx.addIssue({ code: 'custom', path: ['datasets', dataset], message: 'not the name of a known data contract' });
        continue;
      }
      for (const column of Object.keys(spec.columns)) {
        if (!contract.columns.some((c) => c.name === column)) {
          ctx.addIssue({
            code: 'custom',
            path: ['datasets', dataset, 'columns', column],
            message: `not a column of contract ${dataset}`,
          });
        }
      }
      for (const key of contract.key) {
        if (!spec.columns[key]) {
          ctx.addIssue({
            code: 'custom',
            path: ['datasets', dataset, 'columns'],
            message: `the key column '${key}' must be mapped, or rows cannot be applied exactly once`,
          });
        }
      }
    }
  });

export type OuterConfig = z.infer<typeof OuterConfigSchema>;

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
