// A running node takes in what a security officer installs in its trust folder, without a restart
// (docs/key-rotation.md 3 and 4): a bank's new encryption certificate (`bridge-keys import-cert`) is
// used for the next bundle sealed, and a new CRL (`bridge-keys import-crl`) is in force for the next
// bundle opened or sealed. Both daemons look at the folder every 2 seconds: a cheap stamp (name,
// size and modification time of the CA certificate, the CRL and each peer certificate) and, once a
// change has held still for two looks, a full reload through loadTrustStore, which checks everything
// again. A CRL never moves backwards in a running node.
//
// A reload that fails (a file copied in half, a CRL that does not verify) keeps the trust the node
// had, says why in the log once per change, and is tried again at the next change: a daemon never
// stops or loses its trust because of a bad file.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { CA_CERT_FILE, CRL_FILE, PEERS_DIR, loadTrustStore } from './trust-store.js';
import type { TrustStore } from './types.js';

/** How often a daemon looks at its trust folder. */
export const TRUST_CHECK_MS = 2000;

/** What identifies the trust folder's content cheaply: name, size and mtime of each file that counts. */
export function trustFolderStamp(trustDir: string): string {
  const files = [join(trustDir, CA_CERT_FILE), join(trustDir, CRL_FILE)];
  const peersDir = join(trustDir, PEERS_DIR);
  if (existsSync(peersDir)) {
    for (const name of readdirSync(peersDir).sort()) {
      if (name.endsWith('.cert.pem')) files.push(join(peersDir, name));
    }
  }
  return files
    .map((file) => {
      try {
        const s = statSync(file);
        return `${file}:${s.size}:${s.mtimeMs}`;
      } catch {
        return `${file}:-`;
      }
    })
    .join('\n');
}

export interface TrustWatchOptions {
  trustDir: string;
  logger: Logger;
  /** The node's trust now, and where to put a reloaded one. */
  current(): TrustStore;
  replace(trust: TrustStore): void;
  stop: { readonly stopped: boolean; wait(ms: number): Promise<void> };
  intervalMs?: number;
}

/** Looks at the trust folder until the stop arrives, reloading it when it changes. Never throws. */
export async function watchTrustFolder(opts: TrustWatchOptions): Promise<void> {
  const watch = trustWatcher(opts);
  while (!opts.stop.stopped) {
    await opts.stop.wait(opts.intervalMs ?? TRUST_CHECK_MS);
    if (opts.stop.stopped) break;
    await watch.check();
  }
}

/** A node context: its trust folder, its logger, and the trust its bundles are sealed and opened with. */
export interface TrustHolder {
  settings: { folders: { trust: string } };
  logger: Logger;
  trust: TrustStore;
}

/** watchTrustFolder for a node's context: reloads replace ctx.trust, which every seal and open reads. */
export function watchNodeTrust(ctx: TrustHolder, stop: TrustWatchOptions['stop']): Promise<void> {
  return watchTrustFolder({
    trustDir: ctx.settings.folders.trust,
    logger: ctx.logger,
    current: () => ctx.trust,
    replace: (trust) => (ctx.trust = trust),
    stop,
  });
}

/** One look at a time (for tests and for callers with their own loop): reloads if the folder changed. */
export function trustWatcher(opts: Omit<TrustWatchOptions, 'stop' | 'intervalMs'>): {
  check(): Promise<'unchanged' | 'settling' | 'reloaded' | 'failed'>;
} {
  // No stamp yet: the first look reloads once, so that a change made between the node's start-up load
  // and this watcher's start is not missed; a reload that finds the same trust says so only at debug.
  let seen: string | undefined;
  // A change is loaded once it has held still for two looks: a certificate copied by hand (cp) can be
  // seen half-written, and loadTrustStore would then leave that peer out instead of failing.
  let settling: string | undefined;
  return {
    async check() {
      const stamp = safeStamp(opts.trustDir);
      if (stamp === seen) return 'unchanged';
      if (stamp !== settling) {
        settling = stamp;
        return 'settling';
      }
      seen = stamp;
      const before = opts.current();
      try {
        const trust = await loadTrustStore(opts.trustDir);
        // A CRL only moves forward (import-crl refuses an older one): a removed or older CRL would lift
        // revocations in a running node, so it is not taken in.
        const was = before.crlThisUpdate?.getTime();
        const now = trust.crlThisUpdate?.getTime();
        if (was !== undefined && (now === undefined || now < was)) {
          throw new Error(
            `the CRL ${now === undefined ? 'was removed' : 'is older than the one in force'}; install a current one with bridge-keys import-crl`,
          );
        }
        opts.replace(trust);
        const keys = (t: TrustStore): Set<string> => new Set(t.peers.map((p) => `${p.name}/${p.keyId}`));
        const had = keys(before);
        const has = keys(trust);
        const added = [...has].filter((k) => !had.has(k));
        const removed = [...had].filter((k) => !has.has(k));
        const same =
          added.length === 0 &&
          removed.length === 0 &&
          trust.caKeyId === before.caKeyId &&
          trust.revoked.size === before.revoked.size &&
          trust.crlThisUpdate?.getTime() === before.crlThisUpdate?.getTime() &&
          trust.problems.length === before.problems.length;
        const fields = {
          trust: opts.trustDir,
          peers: trust.peers.length,
          added,
          removed,
          revoked: trust.revoked.size,
          crlThisUpdate: trust.crlThisUpdate?.toISOString(),
        };
        if (same) opts.logger.debug(fields, 'trust folder looked at again; nothing that counts changed');
        else opts.logger.info(fields, 'trust folder changed; reloaded without a restart');
        return 'reloaded';
      } catch (error) {
        opts.logger.warn(
          { trust: opts.trustDir, err: describeError(error) },
          'trust folder changed but does not load; keeping the trust loaded before, will try again when it changes',
        );
        return 'failed';
      }
    },
  };
}

function safeStamp(trustDir: string): string {
  try {
    return trustFolderStamp(trustDir);
  } catch (error) {
    return `unreadable: ${String(error)}`;
  }
}
