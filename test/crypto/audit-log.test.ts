// The node audit log's appender (issue 8): verified once when opened, then O(1) per entry with one
// write and one fdatasync; a single writer per file (lock); resident IDs masked; and `audit verify`
// finding edited, removed, reordered and truncated entries in a large log, and `audit export` slices.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  exportAuditLog,
  openAuditLog,
  recordNodeEvent,
  verifyAuditExport,
  verifyAuditLog,
  type AuditEntry,
  type BundleCrossingDetails,
} from '../../crypto/index.js';

const work = mkdtempSync(join(tmpdir(), 'govbank-audit-appender-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
const freshLog = (): string => join(work, `audit-${++counter}.log`);

const sent = (sequence: number): BundleCrossingDetails => ({
  bundleId: sequence.toString(16).padStart(32, '0'),
  stream: 'county.bank-a.residents',
  dataset: 'residents',
  sequence,
  rows: 1000,
  recipients: ['bank-a'],
  digest: `sha256:${sequence.toString(16).padStart(64, '0')}`,
  consentIds: [],
});

const lines = (file: string): string[] => readFileSync(file, 'utf8').trimEnd().split('\n');
const rewrite = (file: string, content: string[]): void => writeFileSync(file, `${content.join('\n')}\n`);

/** A log of `n` bundle-sent entries, one a minute from 2026-11-01T00:00Z. */
function bigLog(n: number): string {
  const file = freshLog();
  const log = openAuditLog(file);
  const start = Date.UTC(2026, 10, 1);
  for (let i = 1; i <= n; i++) recordNodeEvent(log, 'bundle-sent', sent(i), new Date(start + i * 60_000));
  log.close();
  return file;
}

describe('openAuditLog', () => {
  it('appends 20,000 entries in seconds (O(1) per entry) and the chain verifies', () => {
    const file = freshLog();
    const started = Date.now();
    const log = openAuditLog(file);
    for (let i = 1; i <= 20_000; i++) recordNodeEvent(log, 'bundle-sent', sent(i));
    log.close();
    const seconds = (Date.now() - started) / 1000;
    const check = verifyAuditLog(file);
    expect(check).toMatchObject({ ok: true, entries: 20_000, headSeq: 20_000, problems: [] });
    // appendAuditEvent re-verified the whole file per entry: 20,000 took over 10 minutes.
    expect(seconds).toBeLessThan(30);
  });

  it('continues the chain after a reopen', () => {
    const file = freshLog();
    const first = openAuditLog(file);
    recordNodeEvent(first, 'bundle-sent', sent(1));
    first.close();
    const second = openAuditLog(file);
    expect(second.entries).toBe(1);
    const entry = recordNodeEvent(second, 'bundle-applied', sent(1));
    second.close();
    expect(entry.seq).toBe(2);
    expect(verifyAuditLog(file)).toMatchObject({ ok: true, entries: 2 });
    expect(() => second.append('decision', {})).toThrow(/closed/);
  });

  it('holds a lock: a second writer is refused until the first closes; a dead holder is taken over', () => {
    const file = freshLog();
    const log = openAuditLog(file);
    expect(() => openAuditLog(file)).toThrow(expect.objectContaining({ code: 'KEY_AUDIT_LOCKED' }));
    log.close();
    expect(existsSync(`${file}.lock`)).toBe(false);
    // A lock left by a process that has exited (a crash) does not block the node forever.
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(`${file}.lock`, `${gone}\n`);
    const again = openAuditLog(file);
    recordNodeEvent(again, 'bundle-sent', sent(2));
    again.close();
    expect(verifyAuditLog(file).ok).toBe(true);
  });

  it('refuses to open a broken log, and stops when the file changes under it', () => {
    const file = bigLog(3);
    const content = lines(file);
    rewrite(file, [content[0] ?? '', content[2] ?? '']);
    expect(() => openAuditLog(file)).toThrow(expect.objectContaining({ code: 'KEY_AUDIT_BROKEN' }));
    expect(existsSync(`${file}.lock`)).toBe(false);

    const other = bigLog(2);
    const log = openAuditLog(other);
    appendFileSync(other, '{"forged":true}\n');
    expect(() => recordNodeEvent(log, 'bundle-sent', sent(3))).toThrow(/changed under its writer/);
    log.close();
  });

  it('never writes a full resident ID: text is masked, digests and ids are kept', () => {
    const file = freshLog();
    const log = openAuditLog(file);
    const entry = log.append('consent-received', {
      applicationId: 'APP-1 for 34122519900101123X',
      consentId: 'C-1',
      purpose: 'credit',
      expiresAt: '2026-12-01T00:00:00.000Z',
      bank: 'bank-a',
      digest: `sha256:${'123456789012345678'.padEnd(64, 'a')}`,
      notes: ['resident 341225199001011234 asked'],
    });
    log.close();
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('34122519900101123X');
    expect(text).not.toContain('341225199001011234');
    expect(entry.details['applicationId']).toBe('APP-1 for 341225********123X');
    expect(entry.details['notes']).toEqual(['resident 341225********1234 asked']);
    expect(entry.details['digest']).toBe(`sha256:${'123456789012345678'.padEnd(64, 'a')}`);
    expect(verifyAuditLog(file).ok).toBe(true);
  });
});

describe('audit verify on a large log', () => {
  const file = bigLog(2_000);
  const original = lines(file);
  const recorded = { seq: 2_000, hash: (JSON.parse(original[1_999] ?? '') as AuditEntry).hash };

  it('finds an edited entry', () => {
    const copy = freshLog();
    const edited = [...original];
    edited[1_234] = (edited[1_234] ?? '').replace('"rows":1000', '"rows":10');
    rewrite(copy, edited);
    expect(verifyAuditLog(copy).problems).toEqual([
      'line 1235: content does not match its hash (entry edited)',
    ]);
  });

  it('finds a removed entry', () => {
    const copy = freshLog();
    rewrite(
      copy,
      original.filter((_, i) => i !== 500),
    );
    expect(verifyAuditLog(copy).problems).toEqual([
      'line 501: sequence 502, expected 501 (entry removed, inserted or reordered)',
      'line 501: does not chain to the previous entry (entry removed or reordered)',
    ]);
  });

  it('finds reordered entries', () => {
    const copy = freshLog();
    const reordered = [...original];
    [reordered[10], reordered[11]] = [reordered[11] ?? '', reordered[10] ?? ''];
    rewrite(copy, reordered);
    const check = verifyAuditLog(copy);
    expect(check.ok).toBe(false);
    expect(check.problems.join('\n')).toMatch(/line 11: sequence 12, expected 11/);
  });

  it('finds a truncated log: an entry cut mid-line, and newest entries cut against the recorded head', () => {
    const cutMidLine = freshLog();
    const text = readFileSync(file, 'utf8');
    writeFileSync(cutMidLine, text.slice(0, text.length - 40));
    expect(verifyAuditLog(cutMidLine).problems.join('\n')).toMatch(/line 2000: cut short/);

    const cutTail = freshLog();
    rewrite(cutTail, original.slice(0, 1_990));
    expect(verifyAuditLog(cutTail).ok).toBe(true); // the chain alone cannot see it...
    expect(verifyAuditLog(cutTail, recorded).problems).toEqual([
      'entry 2000 (the recorded head) is missing: the newest entries were cut off (truncated)',
    ]);
    expect(verifyAuditLog(file, recorded)).toMatchObject({ ok: true, problems: [] }); // ...the head can
  });

  it('exports a time range as a slice that verifies on its own', () => {
    const from = new Date(Date.UTC(2026, 10, 1, 10, 0, 0));
    const to = new Date(Date.UTC(2026, 10, 1, 20, 0, 0));
    const doc = exportAuditLog(file, { from, to });
    expect(doc.entries.map((e) => e.seq)).toEqual(Array.from({ length: 600 }, (_, i) => 600 + i));
    expect(doc.anchor).toBe((JSON.parse(original[598] ?? '') as AuditEntry).hash);
    expect(verifyAuditExport(JSON.parse(JSON.stringify(doc)) as typeof doc)).toEqual([]);
    (doc.entries[5] as AuditEntry).details['rows'] = 1;
    expect(verifyAuditExport(doc)).toEqual(['entry 6 (seq 605): content does not match its hash (edited)']);
  });
});
