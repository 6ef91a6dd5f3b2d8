// SoftHSM2 for the token tests: a private token directory in a temp folder, so tests never touch the
// machine's tokens. SOFTHSM2_CONF is set for this process and inherited by child processes (the CLIs).
// Under CI=true a missing SoftHSM2 is a failure; elsewhere the token tests skip and say why.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const USER_PIN = '1234';
const SO_PIN = '5678';
const CI = process.env['CI'] === 'true';

function which(command: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Why the token tests cannot run here, or undefined when SoftHSM2 is installed. Throws under CI=true. */
export function softhsmMissing(): string | undefined {
  const reasons: string[] = [];
  if (!which('softhsm2-util')) reasons.push('softhsm2-util is not on PATH');
  if (!existsSync(SOFTHSM_MODULE)) reasons.push(`${SOFTHSM_MODULE} does not exist`);
  if (reasons.length === 0) return undefined;
  const reason = `SoftHSM2 is not installed (${reasons.join('; ')}); install it with: apt-get install -y softhsm2`;
  if (CI) throw new Error(`CI=true and ${reason}`);
  return reason;
}

/**
 * Writes TMP/softhsm2.conf with its own token directory, points SOFTHSM2_CONF at it and initialises one
 * token per label. All tokens must be created before the PKCS#11 module is first loaded in this
 * process: SoftHSM reads its slots when it is initialised.
 */
export function createSoftHsm(root: string, labels: string[]): { conf: string } {
  const tokens = join(root, 'tokens');
  mkdirSync(tokens, { recursive: true });
  const conf = join(root, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env['SOFTHSM2_CONF'] = conf;
  for (const label of labels) {
    execFileSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', label, '--pin', USER_PIN, '--so-pin', SO_PIN],
      { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'pipe' },
    );
  }
  return { conf };
}
