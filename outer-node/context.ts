// The outer node's composition root: configuration, state, keys, trust and the bank target.
import { loadIdentity, loadTrustStore, type Identity, type TrustStore } from '../crypto/index.js';
import type { Logger } from '../shared/logger.js';
import { readPassphrase } from '../shared/secrets.js';
import { loadOuterConfig, type OuterSettings } from './config.js';
import { OuterState } from './state.js';
import { MariadbTarget } from './targets/mariadb-target.js';
import { PostgresTarget } from './targets/postgres-target.js';
import { SqliteTarget } from './targets/sqlite-target.js';
import type { TargetWriter } from './targets/target-writer.js';

export interface OuterContext {
  settings: OuterSettings;
  state: OuterState;
  identity: Identity;
  trust: TrustStore;
  /** The target of the context's first worker; further workers open their own connections. */
  target: TargetWriter;
  logger: Logger;
  /** Run by close() before the state and the target are closed (workers release their claims). */
  readonly cleanups: (() => Promise<void> | void)[];
  close(): Promise<void>;
}

/** Opens one connection (or file handle) to the configured bank database. */
export function openTarget(settings: OuterSettings): TargetWriter {
  const spec = settings.config.target;
  switch (spec.kind) {
    case 'sqlite':
      return new SqliteTarget(settings.resolve(spec.path));
    case 'postgres':
      return new PostgresTarget(spec);
    case 'mariadb':
      return new MariadbTarget(spec);
  }
}

/** Loads the node's keys from its keys folder (the passphrase from the file or variable configured). */
export async function loadNodeIdentity(settings: OuterSettings): Promise<Identity> {
  const passphrase = readPassphrase(
    {
      file: settings.config.keys.passphrase_file && settings.resolve(settings.config.keys.passphrase_file),
      env: settings.config.keys.passphrase_env,
    },
    `node ${settings.config.node.name}'s keys`,
  );
  return loadIdentity({ keysDir: settings.folders.keys, passphrase });
}

export async function openOuterContext(configPath: string, logger: Logger): Promise<OuterContext> {
  const settings = loadOuterConfig(configPath);
  const identity = await loadNodeIdentity(settings);
  const trust = await loadTrustStore(settings.folders.trust);
  const target = openTarget(settings);
  try {
    await target.prepare();
  } catch (error) {
    await target.close();
    throw error;
  }
  let state: OuterState;
  try {
    state = new OuterState(settings.folders.state);
  } catch (error) {
    // The bank connection is open already: close it, or its socket keeps a failed process alive.
    await target.close();
    throw error;
  }
  const cleanups: (() => Promise<void> | void)[] = [];
  return {
    settings,
    state,
    identity,
    trust,
    target,
    logger,
    cleanups,
    async close() {
      for (const cleanup of cleanups.splice(0)) await cleanup();
      state.close();
      await target.close();
    },
  };
}
