// Doctor building blocks (issue 8): each check on real files and folders, good and bad, and the
// findings say what to do.
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkCertificates,
  checkClock,
  checkFolder,
  checkFreeSpace,
  checkKeyFile,
  checkRenameBetween,
  checkSecretFile,
  formatFindings,
  probe,
  worstLevel,
  type Finding,
} from '../../shared/doctor.js';
import { ConfigError } from '../../shared/errors.js';

const work = mkdtempSync(join(tmpdir(), 'govbank-doctor-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
const fresh = (): string => {
  const dir = join(work, `case-${++counter}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};
const isRoot = process.getuid?.() === 0;
const levels = (findings: Finding[]): string[] => findings.map((f) => f.level);

describe('checkKeyFile', () => {
  it('passes a 0600 key file of the current account', () => {
    const key = join(fresh(), 'sign.key.pem');
    writeFileSync(key, 'k', { mode: 0o600 });
    expect(levels(checkKeyFile(key))).toEqual(['ok']);
  });

  it('fails a key file readable by group or others, with the chmod to run', () => {
    const key = join(fresh(), 'enc.key.pem');
    writeFileSync(key, 'k');
    chmodSync(key, 0o640);
    const [finding] = checkKeyFile(key);
    expect(finding?.level).toBe('fail');
    expect(finding?.detail).toContain('0640');
    expect(finding?.fix).toBe(`chmod 600 ${key}`);
  });

  it('fails a missing key, a symbolic link, and a key of another owner', () => {
    const dir = fresh();
    expect(levels(checkKeyFile(join(dir, 'missing.pem')))).toEqual(['fail']);
    const real = join(dir, 'real.pem');
    writeFileSync(real, 'k', { mode: 0o600 });
    symlinkSync(real, join(dir, 'link.pem'));
    expect(checkKeyFile(join(dir, 'link.pem'))[0]?.detail).toContain('symbolic link');
    const other = checkKeyFile(real, { owner: 4242 });
    expect(other.map((f) => f.level)).toEqual(['ok', 'fail']);
    expect(other[1]?.fix).toBe(`chown 4242 ${real}`);
  });
});

describe('checkSecretFile', () => {
  it('wants 0600 and the expected owner', () => {
    const env = join(fresh(), 'outer.env');
    writeFileSync(env, 'BRIDGE_KEY_PASSPHRASE=x\n', { mode: 0o600 });
    const uid = process.getuid?.() ?? 0;
    expect(levels(checkSecretFile(env, { owner: uid }))).toEqual(['ok']);
    chmodSync(env, 0o644);
    const findings = checkSecretFile(env, { owner: uid });
    expect(levels(findings)).toEqual(['fail']);
    expect(findings[0]?.fix).toContain('change the passphrases');
    expect(levels(checkSecretFile(join(fresh(), 'none.env')))).toEqual(['warn']);
  });
});

describe('checkFolder', () => {
  it('passes a private writable folder', () => {
    const dir = join(fresh(), 'state');
    mkdirSync(dir, { mode: 0o700 });
    expect(levels(checkFolder(dir, { writable: true, forbiddenBits: 0o077, role: 'state' }))).toEqual(['ok']);
  });

  it('fails a world-writable folder and one open to others when it must be private', () => {
    const dir = join(fresh(), 'inbox');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const [finding] = checkFolder(dir, { writable: true, role: 'inbox' });
    expect(finding?.level).toBe('fail');
    expect(finding?.detail).toContain('anyone can write');
    expect(finding?.fix).toBe(`chmod 0775 ${dir}`);
    const keys = join(fresh(), 'keys');
    mkdirSync(keys);
    chmodSync(keys, 0o750);
    expect(checkFolder(keys, { writable: false, forbiddenBits: 0o077, role: 'keys' })[0]?.fix).toBe(
      `chmod 0700 ${keys}`,
    );
  });

  it('fails a missing folder and a file where a folder should be', () => {
    const dir = fresh();
    expect(checkFolder(join(dir, 'nope'), { writable: true })[0]?.fix).toContain('install -d');
    writeFileSync(join(dir, 'file'), '');
    expect(checkFolder(join(dir, 'file'), { writable: true })[0]?.detail).toContain('not a folder');
  });

  it.skipIf(!isRoot)('reports a folder owned by another account (as root: chown is possible)', () => {
    const dir = join(fresh(), 'outbox');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 4242, 4242);
    const findings = checkFolder(dir, { writable: true, role: 'outbox' });
    expect(findings.some((f) => f.level === 'fail' && f.fix === `chown 0 ${dir}`)).toBe(true);
  });
});

describe('checkFreeSpace', () => {
  it('reports the free space of the file system, and warns or fails under the thresholds', () => {
    const dir = fresh();
    const [fine] = checkFreeSpace(dir, { warnBytes: 1, failBytes: 0 });
    expect(fine?.level).toBe('ok');
    expect(fine?.detail).toMatch(/MiB free of [\d,]+ MiB/);
    expect(checkFreeSpace(dir, { warnBytes: Number.MAX_SAFE_INTEGER, failBytes: 0 })[0]?.level).toBe('warn');
    const [full] = checkFreeSpace(dir, { failBytes: Number.MAX_SAFE_INTEGER });
    expect(full?.level).toBe('fail');
    expect(full?.fix).toContain('A full disk');
    expect(checkFreeSpace(join(dir, 'missing'))[0]?.level).toBe('fail');
  });
});

describe('checkClock', () => {
  const now = Date.parse('2026-11-22T08:00:00Z');

  it('passes when no file lies ahead of the clock', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'a'), '');
    utimesSync(join(dir, 'a'), new Date(now - 60_000), new Date(now - 60_000));
    expect(levels(checkClock({ folders: [dir], now, monotonicNow: now }))).toEqual(['ok']);
  });

  it('fails a file from the future (the clock is behind or was set back)', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'bundle.gbb'), '');
    const future = new Date(now + 3 * 3_600_000);
    utimesSync(join(dir, 'bundle.gbb'), future, future);
    const [finding] = checkClock({ folders: [dir], now, monotonicNow: now });
    expect(finding?.level).toBe('fail');
    expect(finding?.detail).toContain('180 min ahead');
    expect(finding?.fix).toContain('timedatectl');
  });

  it('fails a clock before the software existed, and a peer time in the future', () => {
    const early = Date.parse('1970-01-02T00:00:00Z');
    expect(checkClock({ folders: [], now: early, monotonicNow: early })[0]?.detail).toContain('1970-01-02');
    const [peer] = checkClock({
      folders: [],
      now,
      monotonicNow: now,
      references: [{ label: 'the newest bundle from county', time: new Date(now + 86_400_000) }],
    });
    expect(peer?.level).toBe('fail');
    expect(peer?.detail).toContain('the newest bundle from county');
  });

  it('warns when the wall clock jumped against the monotonic clock', () => {
    const [finding] = checkClock({ folders: [], now, monotonicNow: now - 20 * 60_000 });
    expect(finding?.level).toBe('warn');
    expect(finding?.detail).toContain('moved forward by 20 min');
  });

  it('uses the real clocks by default', () => {
    expect(levels(checkClock({ folders: [fresh()] }))).toEqual(['ok']);
  });
});

describe('checkCertificates', () => {
  const now = new Date('2026-11-22T00:00:00Z');
  it('fails expired and not-yet-valid certificates, warns within the window, passes the rest', () => {
    const findings = checkCertificates(
      [
        { name: 'bank-a encryption', notAfter: new Date('2026-11-20T00:00:00Z') },
        { name: 'bank-a signing', notAfter: new Date('2026-12-10T00:00:00Z') },
        { name: 'county signing', notAfter: new Date('2027-09-30T00:00:00Z') },
        {
          name: 'new',
          notAfter: new Date('2028-01-01T00:00:00Z'),
          notBefore: new Date('2026-12-01T00:00:00Z'),
        },
      ],
      { now, warnDays: 45 },
    );
    expect(levels(findings)).toEqual(['fail', 'warn', 'ok', 'fail']);
    expect(findings[0]?.detail).toBe('bank-a encryption expired on 2026-11-20');
    expect(findings[1]?.detail).toBe('bank-a signing expires in 18 day(s), on 2026-12-10');
    expect(findings[1]?.fix).toContain('docs/key-rotation.md');
    expect(levels(checkCertificates([], { now }))).toEqual(['warn']);
  });
});

describe('checkRenameBetween', () => {
  it('passes two folders on one file system and leaves nothing behind', () => {
    const dir = fresh();
    mkdirSync(join(dir, 'inbox'));
    mkdirSync(join(dir, 'state'));
    expect(checkRenameBetween(join(dir, 'inbox'), join(dir, 'state')).level).toBe('ok');
  });

  it('fails when the target cannot take the file', () => {
    const dir = fresh();
    mkdirSync(join(dir, 'inbox'));
    const finding = checkRenameBetween(join(dir, 'inbox'), join(dir, 'missing'));
    expect(finding.level).toBe('fail');
    expect(finding.detail).toContain('ENOENT');
  });
});

describe('probe, worstLevel and formatFindings', () => {
  it("turns a failure into a finding whose fix is the error's hint", async () => {
    const good = await probe(
      'database',
      () => 'postgresql://bank@10.0.0.5/bank: connected, INSERT and UPDATE on 7 tables',
      'x',
    );
    expect(good.level).toBe('ok');
    const bad = await probe(
      'database',
      () =>
        Promise.reject(
          new ConfigError('CONFIG_SECRET_MISSING', 'BANK_DB_PASSWORD is not set', {
            hint: 'Add it to /etc/govbank-bridge/outer.env',
          }),
        ),
      'generic',
    );
    expect(bad).toMatchObject({ level: 'fail', fix: 'Add it to /etc/govbank-bridge/outer.env' });
    expect(
      (await probe('database', () => Promise.reject(new Error('ECONNREFUSED')), 'Start the database')).fix,
    ).toBe('Start the database');
  });

  it('prints problems first with their fix, then the rest, then a count', () => {
    const findings: Finding[] = [
      { level: 'ok', check: 'clock', detail: 'fine', fix: '' },
      { level: 'warn', check: 'certificate', detail: 'bank-a expires in 10 day(s)', fix: 'rotate' },
      { level: 'fail', check: 'key file', detail: 'enc.key.pem has mode 0644', fix: 'chmod 600 enc.key.pem' },
    ];
    expect(formatFindings(findings)).toBe(
      [
        'FAIL  key file: enc.key.pem has mode 0644',
        '      fix: chmod 600 enc.key.pem',
        'WARN  certificate: bank-a expires in 10 day(s)',
        '      fix: rotate',
        'ok    clock: fine',
        '1 failed, 1 warning(s), 1 ok',
        '',
      ].join('\n'),
    );
    expect(worstLevel(findings)).toBe('fail');
    expect(worstLevel(findings.slice(0, 2))).toBe('warn');
    expect(worstLevel([])).toBe('ok');
  });
});
