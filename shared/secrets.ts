// Passphrases come from a file or an environment variable named in the configuration, never from the
// command line (where any user could read them in the process list).
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from './errors.js';

export interface PassphraseSource {
  file?: string | undefined;
  env?: string | undefined;
}

export function readPassphrase(source: PassphraseSource, purpose: string): string {
  if (source.file) {
    let mode: number;
    try {
      mode = statSync(source.file).mode;
    } catch (error) {
      throw new ConfigError('CONFIG_SECRET_MISSING', `Passphrase file for ${purpose} not found`, {
        where: source.file,
        hint: 'Create it with mode 0600, or set passphrase_env instead',
        cause: error,
      });
    }
    if ((mode & 0o077) !== 0) {
      throw new ConfigError(
        'CONFIG_SECRET_MISSING',
        `Passphrase file for ${purpose} is readable by group or others`,
        {
          where: source.file,
          hint: `Run: chmod 600 ${source.file}`,
        },
      );
    }
    const text = readFileSync(source.file, 'utf8').replace(/\r?\n$/, '');
    if (text.length > 0) return text;
    throw new ConfigError('CONFIG_SECRET_MISSING', `Passphrase file for ${purpose} is empty`, {
      where: source.file,
    });
  }
  const value = source.env ? process.env[source.env] : undefined;
  if (value) return value;
  throw new ConfigError('CONFIG_SECRET_MISSING', `No passphrase for ${purpose}`, {
    hint: `Set the environment variable ${source.env ?? 'BRIDGE_KEY_PASSPHRASE'} or keys.passphrase_file in the configuration`,
  });
}
