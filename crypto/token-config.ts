// token.yaml: the part of a keys folder that says its private keys are in a PKCS#11 token (design 5),
// which token, where its PIN comes from, and the labels of the keys. It holds no secret: the PIN is in
// a 0600 file or an environment variable, never on a command line and never in this file.
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { writeFileAtomicSync } from '../shared/atomic-file.js';
import { loadYamlConfig } from '../shared/config-loader.js';
import { KeyError } from '../shared/errors.js';
import { TOKEN_CONFIG_FILE } from './identity.js';
import { DEFAULT_TOKEN_MODULE, type TokenSpec } from './pkcs11-token.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const TokenConfigSchema = z
  .strictObject({
    module: z.string().min(1).default(DEFAULT_TOKEN_MODULE),
    // PKCS#11 token labels are at most 32 bytes (CK_TOKEN_INFO.label).
    token_label: z.string().min(1).max(32),
    pin_file: z.string().min(1).optional(),
    pin_env: z.string().regex(ENV_NAME, 'must be an environment variable name').optional(),
    keys: z.strictObject({
      sign: z.string().min(1).max(128),
      encrypt: z.string().min(1).max(128),
    }),
  })
  .refine((c) => (c.pin_file === undefined) !== (c.pin_env === undefined), {
    message: 'give exactly one of pin_file (a 0600 file) or pin_env (an environment variable)',
    path: ['pin_file'],
  });

export type TokenConfig = z.output<typeof TokenConfigSchema>;

/** Reads and validates KEYS_DIR/token.yaml (ConfigError listing every problem with its line). */
export function readTokenConfig(keysDir: string): TokenConfig {
  return loadYamlConfig(join(keysDir, TOKEN_CONFIG_FILE), TokenConfigSchema).config;
}

/** Labels of a node's token keys: per node, role and usage (CKA_ID tells rotated keys apart). */
export function tokenKeyLabels(name: string, role: string): TokenConfig['keys'] {
  return { sign: `${name}/${role}/sign`, encrypt: `${name}/${role}/encrypt` };
}

/** Where the PIN comes from, for messages: a file name or a variable name, never the PIN. */
export function pinSourceOf(config: Pick<TokenConfig, 'pin_file' | 'pin_env'>, keysDir: string): string {
  return config.pin_file !== undefined
    ? `pin_file ${resolvePinFile(config.pin_file, keysDir)}`
    : `environment variable ${config.pin_env ?? '?'}`;
}

function resolvePinFile(file: string, keysDir: string): string {
  return isAbsolute(file) ? file : resolve(keysDir, file);
}

/** Reads the token PIN from its file (must be 0600 or stricter) or environment variable. */
export function readTokenPin(
  config: Pick<TokenConfig, 'pin_file' | 'pin_env' | 'token_label'>,
  keysDir: string,
): string {
  const label = config.token_label;
  if (config.pin_file !== undefined) {
    const file = resolvePinFile(config.pin_file, keysDir);
    let mode: number;
    try {
      mode = statSync(file).mode & 0o777;
    } catch (error) {
      throw new KeyError('KEY_TOKEN', `PIN file for token "${label}" not found`, {
        where: file,
        hint: 'Create it with mode 0600 holding the user PIN, or use pin_env in token.yaml',
        cause: error,
      });
    }
    if ((mode & 0o077) !== 0) {
      throw new KeyError(
        'KEY_PERMISSIONS',
        `PIN file for token "${label}" is accessible by group or others (mode ${mode.toString(8).padStart(4, '0')})`,
        { where: file, hint: `Run: chmod 600 ${file}` },
      );
    }
    const pin = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    if (pin.length === 0)
      throw new KeyError('KEY_TOKEN', `PIN file for token "${label}" is empty`, { where: file });
    return pin;
  }
  const name = config.pin_env ?? '';
  const pin = process.env[name];
  if (!pin) {
    throw new KeyError('KEY_TOKEN', `No PIN for token "${label}": environment variable ${name} is not set`, {
      hint: `Set ${name} in the node's service environment (never on a command line), or use pin_file in token.yaml`,
    });
  }
  return pin;
}

/** The token spec (module, label, PIN) of a keys folder's token.yaml. */
export function tokenSpecOf(config: TokenConfig, keysDir: string): TokenSpec {
  return {
    module: config.module,
    label: config.token_label,
    pin: readTokenPin(config, keysDir),
    pinSource: pinSourceOf(config, keysDir),
  };
}

/** Writes token.yaml (public: no PIN in it), with comments for the officer who reads it later. */
export function writeTokenConfig(keysDir: string, config: TokenConfig): string {
  const file = join(keysDir, TOKEN_CONFIG_FILE);
  const quote = (value: string): string => JSON.stringify(value);
  const pin =
    config.pin_file !== undefined
      ? `pin_file: ${quote(config.pin_file)}`
      : `pin_env: ${quote(config.pin_env ?? '')}`;
  const text = [
    '# The private keys of this node are in a PKCS#11 token and never leave it (docs/key-rotation.md, section 7).',
    '# Certificates stay in this folder. The PIN comes from a 0600 file (pin_file) or an environment variable',
    '# (pin_env); it is never written here and never given on a command line.',
    `module: ${quote(config.module)}`,
    `token_label: ${quote(config.token_label)}`,
    pin,
    '# CKA_LABEL of the current keys; each key also has CKA_ID = its key id (see the certificates).',
    'keys:',
    `  sign: ${quote(config.keys.sign)}`,
    `  encrypt: ${quote(config.keys.encrypt)}`,
    '',
  ].join('\n');
  writeFileAtomicSync(file, text, 0o644);
  return file;
}
