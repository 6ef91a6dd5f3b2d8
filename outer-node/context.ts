// The outer node's composition root: configuration, state, keys, trust and the bank target.
import { loadIdentity, loadTrustStore, type Identity, type TrustStore } from '../crypto/index.js';
import type { Logger } from '../shared/logger.js';
import { readPassphrase } from '../shared/secrets.js';
import { loadOuterConfig, type OuterSettings } from './config.js';
import { OuterState } from './state.js';
import { SqliteTarget } from './targets/sqlite-target.js';
import type { TargetWriter } from './targets/target-writer.js';

export interface OuterContext {
  settings: OuterSettings;
  state: OuterState;
  identity: Identity;
  trust: TrustStore;
  target: TargetWriter;
  logger: Logger;
  close(): Promise<void>;
}

export function openTarget(settings: OuterSettings): TargetWriter {
  const spec = settings.config.target;
  return new SqliteTarget(settings.resolve(spec.path));
}

export async function openOuterContext(configPath: string, logger: Logger): Promise<OuterContext> {
  const settings = loadOuterConfig(configPath);
  const passphrase = readPassphrase(
    {
      file: settings.config.keys.passphrase_file && settings.resolve(settings.config.keys.passphrase_file),
      env: settings.config.keys.passphrase_env,
    },
    `node ${settings.config.node.name}'s keys`,
  );
  const identity = await loadIdentity({ keysDir: settings.folders.keys, passphrase });
  const trust = await loadTrustStore(settings.folders.trust);
  const target = openTarget(settings);
  await target.prepare();
  const state = new OuterState(settings.folders.state);
  return {
    settings,
    state,
    identity,
    trust,
    target,
    logger,
    async close() {
      state.close();
      await target.close();
    },
  };
}
