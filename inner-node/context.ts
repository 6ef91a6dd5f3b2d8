// The inner node's composition root: wires configuration, state, keys and sources (style.md rule 7).
import { loadIdentity, loadTrustStore, type Identity, type TrustStore } from '../crypto/index.js';
import { ConfigError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { readPassphrase } from '../shared/secrets.js';
import { loadInnerConfig, type InnerSettings, type SourceSpec } from './config.js';
import { CsvSource } from './sources/csv-source.js';
import { MariadbSource } from './sources/mariadb-source.js';
import { PostgresSource } from './sources/postgres-source.js';
import { SqliteSource } from './sources/sqlite-source.js';
import type { SourceReader } from './sources/source-reader.js';
import { InnerState } from './state.js';

export interface InnerContext {
  settings: InnerSettings;
  state: InnerState;
  identity: Identity;
  trust: TrustStore;
  logger: Logger;
  source(name: string): SourceReader;
  /** Run by close() and dispose(), last first (the audit appender registers here). */
  readonly cleanups: (() => void)[];
  /** Closes sources and the state database; network connections finish closing in the background. */
  close(): void;
  /** Closes sources (waiting for network connections to end) and the state database. */
  dispose(): Promise<void>;
}

function password(
  settings: InnerSettings,
  name: string,
  spec: { password_file?: string | undefined; password_env?: string | undefined },
): string | undefined {
  if (spec.password_file === undefined && spec.password_env === undefined) return undefined;
  return readPassphrase(
    { file: spec.password_file && settings.resolve(spec.password_file), env: spec.password_env },
    `source ${name}`,
  );
}

/** Builds the reader for one configured source (no connection is made until the first read). */
export function openSource(settings: InnerSettings, name: string): SourceReader {
  const spec: SourceSpec | undefined = Object.hasOwn(settings.config.sources, name)
    ? settings.config.sources[name]
    : undefined;
  if (!spec) {
    throw new ConfigError('CONFIG_INVALID', `No source named '${name}'`, {
      where: settings.path,
      hint: `Known sources: ${Object.keys(settings.config.sources).join(', ') || 'none'}`,
    });
  }
  switch (spec.kind) {
    case 'sqlite':
      return new SqliteSource(settings.resolve(spec.path));
    case 'postgres':
      return new PostgresSource({
        url: spec.url,
        password: password(settings, name, spec),
        schema: spec.schema,
      });
    case 'mariadb':
      return new MariadbSource({
        url: spec.url,
        password: password(settings, name, spec),
        encoding: spec.encoding,
      });
    case 'csv':
      return new CsvSource({
        path: settings.resolve(spec.path),
        encoding: spec.encoding,
        delimiter: spec.delimiter,
        nullText: spec.null_text,
      });
  }
}

export async function openInnerContext(configPath: string, logger: Logger): Promise<InnerContext> {
  const settings = loadInnerConfig(configPath);
  const passphrase = readPassphrase(
    {
      file: settings.config.keys.passphrase_file && settings.resolve(settings.config.keys.passphrase_file),
      env: settings.config.keys.passphrase_env,
    },
    `node ${settings.config.node.name}'s keys`,
  );
  const identity = await loadIdentity({ keysDir: settings.folders.keys, passphrase });
  const trust = await loadTrustStore(settings.folders.trust);
  const state = new InnerState(settings.folders.state);
  const sources = new Map<string, SourceReader>();
  const cleanups: (() => void)[] = [];
  const runCleanups = (): void => {
    for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  };
  const closeSources = (): Promise<void>[] => {
    const closing = [...sources.values()].map((reader) => reader.close().catch(() => undefined));
    sources.clear();
    return closing;
  };
  return {
    settings,
    state,
    identity,
    trust,
    logger,
    source(name) {
      let reader = sources.get(name);
      if (!reader) {
        reader = openSource(settings, name);
        sources.set(name, reader);
      }
      return reader;
    },
    cleanups,
    close() {
      runCleanups();
      void Promise.all(closeSources());
      state.close();
    },
    async dispose() {
      runCleanups();
      await Promise.all(closeSources());
      state.close();
    },
  };
}
