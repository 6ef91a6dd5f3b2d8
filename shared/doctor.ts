// `inner-node doctor` and `outer-node doctor` (issue 8): checks that need no node internals, each
// returning findings that say what is wrong and what to do. The nodes add their own checks
// (configuration, database reachability and privileges) and print them all with formatFindings().
import {
  accessSync,
  constants,
  lstatSync,
  readdirSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { BridgeError, describeError } from './errors.js';

export type FindingLevel = 'ok' | 'warn' | 'fail';

export interface Finding {
  level: FindingLevel;
  /** What was checked, short: 'key file mode', 'free space'. */
  check: string;
  /** What was found, naming the file, folder or certificate. */
  detail: string;
  /** What to do about it ('' when nothing needs doing). */
  fix: string;
}

const ok = (check: string, detail: string): Finding => ({ level: 'ok', check, detail, fix: '' });

const octal = (mode: number): string => `0${(mode & 0o777).toString(8).padStart(3, '0')}`;

function describeCode(error: unknown): string {
  return (error as { code?: string }).code ?? (error instanceof Error ? error.message : String(error));
}

/** The current user id, or undefined where there is none (Windows). */
function currentUid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined;
}

/**
 * A private key file: a regular file (not a link someone could redirect), mode 0600 or stricter,
 * owned by the account that runs the node. The node refuses to start otherwise (KEY_PERMISSIONS).
 */
export function checkKeyFile(path: string, options: { owner?: number } = {}): Finding[] {
  const check = 'key file';
  let stats;
  try {
    stats = lstatSync(path);
  } catch (error) {
    return [
      {
        level: 'fail',
        check,
        detail: `${path}: ${describeCode(error)}`,
        fix: `Install the key file at ${path} (bridge-keys issue writes it)`,
      },
    ];
  }
  if (!stats.isFile()) {
    return [
      {
        level: 'fail',
        check,
        detail: `${path} is ${stats.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}`,
        fix: `Replace it with the key file itself: cp --dereference, then chmod 600 ${path}`,
      },
    ];
  }
  const findings: Finding[] = [];
  if ((stats.mode & 0o077) !== 0) {
    findings.push({
      level: 'fail',
      check,
      detail: `${path} has mode ${octal(stats.mode)}: readable by group or others`,
      fix: `chmod 600 ${path}`,
    });
  } else {
    findings.push(ok(check, `${path}: mode ${octal(stats.mode)}`));
  }
  const owner = options.owner ?? currentUid();
  if (owner !== undefined && stats.uid !== owner) {
    findings.push({
      level: 'fail',
      check,
      detail: `${path} belongs to uid ${stats.uid}, not to the node's account (uid ${owner})`,
      fix: `chown ${owner} ${path}`,
    });
  }
  return findings;
}

/**
 * A secrets file (the systemd environment file with the passphrases): mode 0600 or stricter and
 * owned by `owner` (root by default, since systemd reads it before dropping privileges).
 */
export function checkSecretFile(path: string, options: { owner?: number } = {}): Finding[] {
  const check = 'secrets file';
  let stats;
  try {
    stats = statSync(path);
  } catch (error) {
    return [
      {
        level: 'warn',
        check,
        detail: `${path}: ${describeCode(error)}`,
        fix: `Create it from deploy/systemd/*.env.example with install -m 0600`,
      },
    ];
  }
  const owner = options.owner ?? 0;
  const findings: Finding[] = [];
  if ((stats.mode & 0o077) !== 0) {
    findings.push({
      level: 'fail',
      check,
      detail: `${path} has mode ${octal(stats.mode)}: the passphrases in it are readable by group or others`,
      fix: `chmod 600 ${path}, then change the passphrases if anyone else could have read them`,
    });
  }
  if (stats.uid !== owner) {
    findings.push({
      level: 'warn',
      check,
      detail: `${path} belongs to uid ${stats.uid}, expected uid ${owner}`,
      fix: `chown ${owner} ${path}`,
    });
  }
  return findings.length > 0
    ? findings
    : [ok(check, `${path}: mode ${octal(stats.mode)}, owner uid ${stats.uid}`)];
}

export interface FolderExpectation {
  /** The node must be able to write here (state, outbox, inbox, quarantine) or only read (keys, trust). */
  writable: boolean;
  /** Expected owner uid (default: the account running the check). */
  owner?: number;
  /** Permission bits that must not be set, e.g. 0o077 for keys/ and state/, 0o002 for any folder. */
  forbiddenBits?: number;
  /** The folder's role in one word, for messages: 'state', 'keys', 'inbox'. */
  role?: string;
}

/**
 * The private key files of a node's keys folder and its passphrase file, if configured (no key file
 * at all is a failure unless the keys live in a PKCS#11 token, token.yaml).
 */
export function checkNodeKeyFiles(node: {
  keysDir: string;
  passphraseFile: string | undefined;
  role: 'inner' | 'outer';
}): Finding[] {
  const findings: Finding[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(node.keysDir);
  } catch {
    return []; // the folder finding already says so
  }
  for (const name of names.filter((n) => /\.key\.pem$/.test(n)).sort())
    findings.push(...checkKeyFile(join(node.keysDir, name)));
  if (node.passphraseFile !== undefined) findings.push(...checkKeyFile(node.passphraseFile));
  if (findings.length === 0 && !names.includes('token.yaml')) {
    findings.push({
      level: 'fail',
      check: 'key file',
      detail: `no private key file in ${node.keysDir}`,
      fix: `Install the keys the security officer issued (bridge-keys issue --role ${node.role} --out ${node.keysDir})`,
    });
  }
  return findings;
}

/** A folder: exists, is a directory, has the right owner and no forbidden permission bits, and is writable when it must be. */
export function checkFolder(path: string, expect: FolderExpectation): Finding[] {
  const check = `${expect.role ?? 'folder'} folder`;
  let stats;
  try {
    stats = statSync(path);
  } catch (error) {
    return [
      {
        level: 'fail',
        check,
        detail: `${path}: ${describeCode(error)}`,
        fix: `install -d -m ${expect.writable ? '0700' : '0750'} -o NODE_USER ${path} (or run the node's init)`,
      },
    ];
  }
  if (!stats.isDirectory()) {
    return [
      {
        level: 'fail',
        check,
        detail: `${path} is not a folder`,
        fix: `Move the file away and create the folder ${path}`,
      },
    ];
  }
  const findings: Finding[] = [];
  const forbidden = (expect.forbiddenBits ?? 0) | 0o002;
  if ((stats.mode & forbidden) !== 0) {
    findings.push({
      level: 'fail',
      check,
      detail: `${path} has mode ${octal(stats.mode)}; ${stats.mode & 0o002 ? 'anyone can write into it' : 'it is open to others'}`,
      fix: `chmod ${octal(stats.mode & ~forbidden)} ${path}`,
    });
  }
  const owner = expect.owner ?? currentUid();
  if (owner !== undefined && stats.uid !== owner) {
    findings.push({
      level: expect.writable ? 'fail' : 'warn',
      check,
      detail: `${path} belongs to uid ${stats.uid}, not to the node's account (uid ${owner})`,
      fix: `chown ${owner} ${path}`,
    });
  }
  if (expect.writable) {
    try {
      accessSync(path, constants.W_OK | constants.X_OK);
    } catch {
      findings.push({
        level: 'fail',
        check,
        detail: `${path} is not writable by this account`,
        fix: `chown NODE_USER ${path} and chmod u+rwx ${path}; under systemd, the folder must lie inside the unit's StateDirectory or ReadWritePaths`,
      });
    }
  }
  return findings.length > 0
    ? findings
    : [ok(check, `${path}: mode ${octal(stats.mode)}, owner uid ${stats.uid}`)];
}

export interface SpaceThresholds {
  /** Warn below this many free bytes (default 2 GiB). */
  warnBytes?: number;
  /** Fail below this many free bytes (default 256 MiB). */
  failBytes?: number;
  /** Warn below this share of free inodes (default 5%). */
  warnInodeRatio?: number;
}

/** Free space (for the node's account, not root's reserve) and free inodes of the file system holding `path`. */
export function checkFreeSpace(path: string, thresholds: SpaceThresholds = {}): Finding[] {
  const check = 'free space';
  const warnBytes = thresholds.warnBytes ?? 2 * 1024 ** 3;
  const failBytes = thresholds.failBytes ?? 256 * 1024 ** 2;
  const warnInodes = thresholds.warnInodeRatio ?? 0.05;
  let fs;
  try {
    fs = statfsSync(path);
  } catch (error) {
    return [
      {
        level: 'fail',
        check,
        detail: `${path}: ${describeCode(error)}`,
        fix: `Create ${path} or correct the configured path`,
      },
    ];
  }
  const free = fs.bavail * fs.bsize;
  const total = fs.blocks * fs.bsize;
  const mib = (n: number): string => `${Math.floor(n / 1024 ** 2).toLocaleString('en-US')} MiB`;
  const detail = `${path}: ${mib(free)} free of ${mib(total)}`;
  const fix =
    'Free space (docs/runbooks.md, "A full disk"): sent bundles older than the retention are pruned automatically; old backups, reject files and dropped quarantine files can go';
  const findings: Finding[] = [];
  if (free < failBytes) findings.push({ level: 'fail', check, detail, fix });
  else if (free < warnBytes) findings.push({ level: 'warn', check, detail, fix });
  else findings.push(ok(check, detail));
  if (fs.files > 0 && fs.ffree / fs.files < warnInodes) {
    findings.push({
      level: fs.ffree === 0 ? 'fail' : 'warn',
      check: 'free inodes',
      detail: `${path}: ${fs.ffree} of ${fs.files} inodes free`,
      fix: 'Many small files: look for a stuck inbox or quarantine (bridge files are one per bundle), then clean up',
    });
  }
  return findings;
}

/** The newest modification time of the regular files directly in `folder` (undefined when none). */
function newestMtime(folder: string): { file: string; mtimeMs: number } | undefined {
  let newest: { file: string; mtimeMs: number } | undefined;
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return undefined;
  }
  for (const name of names) {
    try {
      const stats = lstatSync(join(folder, name));
      if (stats.isFile() && (!newest || stats.mtimeMs > newest.mtimeMs))
        newest = { file: join(folder, name), mtimeMs: stats.mtimeMs };
    } catch {
      // removed meanwhile
    }
  }
  return newest;
}

export interface ClockCheckOptions {
  /** Folders whose files the node wrote (state, outbox, inbox): none may be newer than the clock. */
  folders: readonly string[];
  /** Times from elsewhere that cannot lie in the future, such as the newest peer bundle's created time. */
  references?: readonly { label: string; time: Date }[];
  /** The wall clock (default Date.now()). */
  now?: number;
  /** A monotonic estimate of now: wall time at process start plus monotonic time since (default). */
  monotonicNow?: number;
  /** How far apart is still fine (default 5 minutes). */
  toleranceMs?: number;
  /** No correct clock reads earlier than this (default 2025-01-01: before this software existed). */
  floor?: Date;
}

/**
 * Clock sanity: a clock before the software existed (a reset real-time clock), files or peer times in
 * the future (the clock is behind, or was set back), and a wall clock that jumped while the process ran
 * (wall time against the monotonic clock). Bundles carry created and expiry times, and the peer judges
 * them by its own clock, so a wrong clock makes good bundles look expired or not yet valid.
 */
export function checkClock(options: ClockCheckOptions): Finding[] {
  const check = 'clock';
  const now = options.now ?? Date.now();
  const monotonicNow = options.monotonicNow ?? performance.timeOrigin + performance.now();
  const tolerance = options.toleranceMs ?? 5 * 60_000;
  const floor = options.floor ?? new Date('2025-01-01T00:00:00Z');
  const fix = 'Synchronise the clock (timedatectl status; chronyc tracking), then run doctor again';
  const when = (ms: number): string => new Date(ms).toISOString();
  const minutes = (ms: number): string => `${Math.round(ms / 60_000).toLocaleString('en-US')} min`;
  const findings: Finding[] = [];
  if (now < floor.getTime()) {
    findings.push({
      level: 'fail',
      check,
      detail: `the clock reads ${when(now)}, before ${when(floor.getTime())}`,
      fix,
    });
  }
  for (const folder of options.folders) {
    const newest = newestMtime(folder);
    if (newest && newest.mtimeMs > now + tolerance) {
      findings.push({
        level: 'fail',
        check,
        detail: `${newest.file} was modified at ${when(newest.mtimeMs)}, ${minutes(newest.mtimeMs - now)} ahead of the clock (${when(now)}): the clock is behind or was set back`,
        fix,
      });
    }
  }
  for (const reference of options.references ?? []) {
    if (reference.time.getTime() > now + tolerance) {
      findings.push({
        level: 'fail',
        check,
        detail: `${reference.label} is ${when(reference.time.getTime())}, ${minutes(reference.time.getTime() - now)} ahead of this clock (${when(now)})`,
        fix: `${fix}; if this clock is right, the peer's clock is ahead: tell its operators`,
      });
    }
  }
  const step = now - monotonicNow;
  if (Math.abs(step) > tolerance) {
    findings.push({
      level: 'warn',
      check,
      detail: `the wall clock was ${step > 0 ? 'moved forward' : 'set back'} by ${minutes(Math.abs(step))} while this process ran`,
      fix: 'Let the time service slew the clock instead of stepping it (chrony: makestep only at boot)',
    });
  }
  return findings.length > 0
    ? findings
    : [ok(check, `the clock reads ${when(now)}; no file or peer time lies ahead of it`)];
}

export interface CertificateValidity {
  /** What the certificate is, for the message: 'bank-a encryption'. */
  name: string;
  notAfter: Date;
  notBefore?: Date;
}

/** Certificate expiry: expired or not yet valid fails; expiring within `warnDays` (default 45) warns. */
export function checkCertificates(
  certificates: readonly CertificateValidity[],
  options: { now?: Date; warnDays?: number } = {},
): Finding[] {
  const check = 'certificate';
  const now = (options.now ?? new Date()).getTime();
  const warnDays = options.warnDays ?? 45;
  if (certificates.length === 0) {
    return [
      {
        level: 'warn',
        check,
        detail: 'no certificates found',
        fix: 'Import the certificates (bridge-keys import-cert) into the trust folder',
      },
    ];
  }
  return certificates.map((c) => {
    const days = Math.floor((c.notAfter.getTime() - now) / 86_400_000);
    const until = c.notAfter.toISOString().slice(0, 10);
    if (c.notBefore && c.notBefore.getTime() > now) {
      return {
        level: 'fail',
        check,
        detail: `${c.name} is not valid before ${c.notBefore.toISOString()}`,
        fix: 'Check this machine\'s clock (see "clock"); if it is right, the certificate was issued with a future start',
      };
    }
    if (days < 0) {
      return {
        level: 'fail',
        check,
        detail: `${c.name} expired on ${until}`,
        fix: 'Issue a new certificate now (docs/key-rotation.md); bundles signed or sealed with it are refused',
      };
    }
    if (days < warnDays) {
      return {
        level: 'warn',
        check,
        detail: `${c.name} expires in ${days} day(s), on ${until}`,
        fix: 'Rotate before it expires (docs/key-rotation.md, "Rotating"); allow time for the ferry to carry the new certificate',
      };
    }
    return ok(check, `${c.name} valid for ${days} more days (until ${until})`);
  });
}

/**
 * Whether a file can be renamed from `from` into `to`: the outer node claims inbox files by rename
 * into its state folder, which fails (EXDEV) across file systems and across separate bind mounts,
 * such as two systemd ReadWritePaths= entries.
 */
export function checkRenameBetween(from: string, to: string, label = 'claim by rename'): Finding {
  const name = `.doctor-${process.pid}-${Date.now()}.part`;
  const source = join(from, name);
  const target = join(to, name);
  try {
    writeFileSync(source, '');
  } catch (error) {
    return {
      level: 'fail',
      check: label,
      detail: `cannot create a file in ${from}: ${describeCode(error)}`,
      fix: `Make ${from} writable by the node's account`,
    };
  }
  try {
    renameSync(source, target);
    rmSync(target, { force: true });
    return ok(label, `${from} → ${to}: rename works`);
  } catch (error) {
    rmSync(source, { force: true });
    const code = describeCode(error);
    return {
      level: 'fail',
      check: label,
      detail: `cannot rename from ${from} into ${to}: ${code}`,
      fix:
        code === 'EXDEV'
          ? 'Put both folders on one file system and, under systemd, inside one StateDirectory= (separate ReadWritePaths= are separate mounts)'
          : `Make ${to} writable by the node's account`,
    };
  }
}

/**
 * Runs a check that talks to something (a database, a token) and turns a failure into a finding;
 * a BridgeError's hint becomes the fix.
 */
export async function probe(
  check: string,
  run: () => Promise<string> | string,
  fix: string,
): Promise<Finding> {
  try {
    return ok(check, await run());
  } catch (error) {
    return {
      level: 'fail',
      check,
      detail: describeError(error),
      fix: error instanceof BridgeError && error.hint ? error.hint : fix,
    };
  }
}

/** The worst level among findings: what the CLI's exit code follows (fail 2, warn 1, ok 0). */
export function worstLevel(findings: readonly Finding[]): FindingLevel {
  if (findings.some((f) => f.level === 'fail')) return 'fail';
  if (findings.some((f) => f.level === 'warn')) return 'warn';
  return 'ok';
}

/** Findings for a terminal: problems first, each with its fix, then what is fine, then a count. */
export function formatFindings(findings: readonly Finding[]): string {
  const order: Record<FindingLevel, number> = { fail: 0, warn: 1, ok: 2 };
  const tag: Record<FindingLevel, string> = { fail: 'FAIL', warn: 'WARN', ok: 'ok  ' };
  const sorted = [...findings].sort((a, b) => order[a.level] - order[b.level]);
  const lines: string[] = [];
  for (const f of sorted) {
    lines.push(`${tag[f.level]}  ${f.check}: ${f.detail}`);
    if (f.level !== 'ok' && f.fix) lines.push(`      fix: ${f.fix}`);
  }
  const count = (level: FindingLevel): number => findings.filter((f) => f.level === level).length;
  lines.push(`${count('fail')} failed, ${count('warn')} warning(s), ${count('ok')} ok`);
  return `${lines.join('\n')}\n`;
}
