// Private keys at rest, at node level (design 5, docs/key-rotation.md section 0): the passphrase comes
// from the file or the environment variable named in the node configuration (keys.passphrase_file /
// keys.passphrase_env), never from the command line. Each case goes through what a node runs at start:
// openInnerContext for the inner node, loadOuterConfig + loadNodeIdentity for the outer node.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  importCertificates,
  initCa,
  issueNodeKeys,
  type Identity,
  type NodeRole,
} from '../../crypto/index.js';
import { openInnerContext } from '../../inner-node/context.js';
import { innerConfigTemplate } from '../../inner-node/init.js';
import { loadOuterConfig } from '../../outer-node/config.js';
import { loadNodeIdentity } from '../../outer-node/context.js';
import { outerConfigTemplate } from '../../outer-node/init.js';
import { createLogger } from '../../shared/logger.js';
import { CA_PASSPHRASE } from './fixtures.js';

/** Distinctive, so any echo of it in an error text is found. */
const PASSPHRASE = 'Correct-Horse-7781-battery-staple';
const WRONG_PASSPHRASE = 'Wrong-Horse-1187-not-the-one';
const ENV = 'GBB_TEST_NODE_PASSPHRASE';
const UNSET_ENV = 'GBB_TEST_NODE_PASSPHRASE_UNSET';
const quietLogger = createLogger({ name: 'test', level: 'silent' });

interface NodeUnderTest {
  role: NodeRole;
  name: string;
  template: string;
  /** What the node does at start to get its keys; returns the loaded identity. */
  start(configPath: string): Promise<Identity>;
}

const NODES: NodeUnderTest[] = [
  {
    role: 'inner',
    name: 'county',
    template: innerConfigTemplate({ name: 'county', bank: 'bank-a' }),
    async start(configPath) {
      const ctx = await openInnerContext(configPath, quietLogger);
      ctx.close();
      return ctx.identity;
    },
  },
  {
    role: 'outer',
    name: 'bank-a',
    template: outerConfigTemplate({ name: 'bank-a', sender: 'county' }),
    start: (configPath) => loadNodeIdentity(loadOuterConfig(configPath)),
  },
];

let root: string;
let caDir: string;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'bridge-passphrase-'));
  caDir = join(root, 'ca');
  await initCa({ dir: caDir, passphrase: CA_PASSPHRASE });
});
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});
afterEach(() => {
  delete process.env[ENV];
  delete process.env[UNSET_ENV];
});

/** Everything an error could show a user or a log: message, hint, location and the causes. */
function errorText(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    parts.push(String(e), e.stack ?? '', JSON.stringify(e));
  }
  return parts.join('\n');
}

async function failureOf(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error('expected the node start to fail');
  return error;
}

describe.each(NODES)('node passphrase, $role node', (node) => {
  const tag = `[${node.role} node]`;
  let dir: string;
  let configPath: string;
  let passphraseFile: string;

  beforeAll(async () => {
    dir = join(root, node.role);
    mkdirSync(join(dir, 'state'), { recursive: true });
    await issueNodeKeys({
      caDir,
      caPassphrase: CA_PASSPHRASE,
      role: node.role,
      name: node.name,
      outDir: join(dir, 'keys'),
      passphrase: PASSPHRASE,
    });
    // The inner node loads its trust folder at start too; the CA is enough for that.
    await importCertificates({
      trustDir: join(dir, 'trust'),
      caCertFile: join(caDir, 'ca.cert.pem'),
      files: [],
    });
    configPath = join(dir, `${node.role}-node.yaml`);
    passphraseFile = join(dir, 'keys', 'passphrase');
  });

  /** Writes the node configuration with the given keys section and, if asked, the passphrase file. */
  function configure(keys: { passphrase_file?: string; passphrase_env?: string }, file?: string): void {
    const config = parse(node.template) as Record<string, unknown>;
    config['keys'] = keys;
    writeFileSync(configPath, stringify(config), { mode: 0o600 });
    if (file !== undefined) {
      writeFileSync(passphraseFile, `${file}\n`, { mode: 0o600 });
      chmodSync(passphraseFile, 0o600);
    }
  }

  it(`${tag} keys.passphrase_file (relative to the configuration, mode 0600) decrypts the keys`, async () => {
    configure({ passphrase_file: 'keys/passphrase' }, PASSPHRASE);
    const identity = await node.start(configPath);
    expect(identity.name).toBe(node.name);
    expect(identity.role).toBe(node.role);
  });

  it(`${tag} a passphrase file readable by group (0640) or others (0604) is refused before use, naming the file and "chmod 600", without the passphrase`, async () => {
    configure({ passphrase_file: 'keys/passphrase' }, PASSPHRASE);
    for (const mode of [0o640, 0o604, 0o644]) {
      chmodSync(passphraseFile, mode);
      const error = await failureOf(node.start(configPath));
      expect(error.code).toBe('CONFIG_SECRET_MISSING');
      expect(error.message).toContain('readable by group or others');
      expect(error.message).toContain(passphraseFile);
      expect(error.message).toContain(`chmod 600 ${passphraseFile}`);
      expect(errorText(error)).not.toContain(PASSPHRASE);
    }
    chmodSync(passphraseFile, 0o600);
    expect((await node.start(configPath)).name).toBe(node.name);
  });

  it(`${tag} keys.passphrase_env names the environment variable the passphrase is read from`, async () => {
    configure({ passphrase_env: ENV });
    process.env[ENV] = PASSPHRASE;
    expect((await node.start(configPath)).name).toBe(node.name);
  });

  it(`${tag} a missing or empty environment variable is a clear error naming the variable`, async () => {
    configure({ passphrase_env: UNSET_ENV });
    const missing = await failureOf(node.start(configPath));
    expect(missing.code).toBe('CONFIG_SECRET_MISSING');
    expect(missing.message).toContain(`node ${node.name}'s keys`);
    expect(missing.message).toContain(`environment variable ${UNSET_ENV}`);
    process.env[UNSET_ENV] = '';
    const empty = await failureOf(node.start(configPath));
    expect(empty.code).toBe('CONFIG_SECRET_MISSING');
    expect(empty.message).toContain(UNSET_ENV);
  });

  it(`${tag} a wrong passphrase, from the file or the variable, is refused (KEY_PASSPHRASE) and never appears in the error text`, async () => {
    configure({ passphrase_file: 'keys/passphrase' }, WRONG_PASSPHRASE);
    const fromFile = await failureOf(node.start(configPath));
    expect(fromFile.code).toBe('KEY_PASSPHRASE');
    expect(fromFile.message).toContain('Cannot decrypt private key');
    expect(errorText(fromFile)).not.toContain(WRONG_PASSPHRASE);

    configure({ passphrase_env: ENV });
    process.env[ENV] = WRONG_PASSPHRASE;
    const fromEnv = await failureOf(node.start(configPath));
    expect(fromEnv.code).toBe('KEY_PASSPHRASE');
    expect(errorText(fromEnv)).not.toContain(WRONG_PASSPHRASE);
    expect(errorText(fromEnv)).not.toContain(PASSPHRASE);
  });

  it(`${tag} a passphrase file that does not exist or is empty is refused, naming the file`, async () => {
    configure({ passphrase_file: 'keys/no-such-passphrase' });
    const absent = await failureOf(node.start(configPath));
    expect(absent.code).toBe('CONFIG_SECRET_MISSING');
    expect(absent.message).toContain(join(dir, 'keys', 'no-such-passphrase'));
    configure({ passphrase_file: 'keys/passphrase' }, '');
    const empty = await failureOf(node.start(configPath));
    expect(empty.code).toBe('CONFIG_SECRET_MISSING');
    expect(empty.message).toContain(`is empty (at ${passphraseFile})`);
  });

  it(`${tag} a private key file with mode 0644 stops the node at start (KEY_PERMISSIONS with the chmod to run)`, async () => {
    configure({ passphrase_file: 'keys/passphrase' }, PASSPHRASE);
    const keyFile = join(dir, 'keys', 'sign.key.pem');
    expect(readFileSync(keyFile, 'utf8')).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    chmodSync(keyFile, 0o644);
    try {
      const error = await failureOf(node.start(configPath));
      expect(error.code).toBe('KEY_PERMISSIONS');
      expect(error.message).toContain(`chmod 600 ${keyFile}`);
      expect(errorText(error)).not.toContain(PASSPHRASE);
    } finally {
      chmodSync(keyFile, 0o600);
    }
  });
});
