// The inner node's composition root: wires configuration, state, keys and sources (style.md rule 7).
import { loadIdentity, loadTrustStore, type Identity, type TrustStore } from '../crypto/index.js';
import type { Logger } from '../shared/logger.js';
import { readPassphrase } from '../shared/secrets.js';
import { loadInnerConfig, type InnerSettings } from './config.js';
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
  close(): void;
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
  return {
    settings,
    state,
    identity,
    trust,
    logger,
    source(name) {
      let reader = sources.get(name);
      if (!reader) {
        const spec = settings.config.sources[name];
        if (!spec) throw new Error(`no source named ${name}`);
        reader = new SqliteSource(settings.resolve(spec.path));
        sources.set(name, reader);
      }
      return reader;
    },
    close() {
      for (const reader of sources.values()) reader.close();
      state.close();
    },
  };
}
