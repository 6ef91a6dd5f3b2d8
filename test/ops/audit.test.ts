// The node audit log of what crossed (issue 8): bundle and decision events on crypto/'s hash chain.
// Edit, delete and reorder entries and see `audit verify` (verifyAuditLog) catch each; export a time
// range for an inspector and check the excerpt on its own.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  appendNodeAuditEvent,
  entryHash,
  exportAuditLog,
  verifyAuditExport,
  verifyAuditLog,
  type AuditEntry,
  type BundleCrossingDetails,
  type DecisionDetails,
} from '../../crypto/index.js';

const work = mkdtempSync(join(tmpdir(), 'govbank-audit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;

const sent = (sequence: number): BundleCrossingDetails => ({
  bundleId: `b-${sequence}`,
  stream: 'county.bank-a.residents',
  dataset: 'residents',
  sequence,
  rows: 1000 + sequence,
  recipients: ['bank-a'],
  digest: `sha256:${String(sequence).padStart(64, '0')}`,
  consentIds: [],
});

const decision = (id: number): DecisionDetails => ({
  applicationId: `APP-${id}`,
  consentId: `C-${id}`,
  portraitDigest: `sha256:${String(id).padStart(64, 'f')}`,
  modelVersion: 'scorecard-2026.11',
  score: 612,
  decision: 'approved',
  line: '50000.00',
  rate: '0.0435',
  reasons: [],
  points: ['age=35', 'social_security_months_24=48'],
});

/** A log of five events, one a day from 2026-11-18, and its lines. */
function sampleLog(): { file: string; lines: string[] } {
  const file = join(work, `audit-${++counter}.log`);
  const day = (d: number): Date => new Date(Date.UTC(2026, 10, 18 + d, 9, 0, 0));
  appendNodeAuditEvent(file, 'bundle-sent', sent(1), day(0));
  appendNodeAuditEvent(file, 'bundle-sent', sent(2), day(1));
  appendNodeAuditEvent(file, 'decision', decision(7), day(2));
  appendNodeAuditEvent(file, 'bundle-sent', sent(3), day(3));
  appendNodeAuditEvent(file, 'decision', decision(8), day(4));
  return { file, lines: readFileSync(file, 'utf8').trimEnd().split('\n') };
}

const rewrite = (file: string, lines: string[]): void => writeFileSync(file, `${lines.join('\n')}\n`);

describe('the node audit log', () => {
  it('records what crossed and every decision on the hash chain, and verifies', () => {
    const { file, lines } = sampleLog();
    const check = verifyAuditLog(file);
    expect(check).toMatchObject({ ok: true, entries: 5, problems: [] });
    const third = JSON.parse(lines[2] ?? '') as AuditEntry;
    expect(third.event).toBe('decision');
    expect(third.details).toMatchObject({ applicationId: 'APP-7', consentId: 'C-7', line: '50000.00' });
    expect((JSON.parse(lines[0] ?? '') as AuditEntry).details).toMatchObject({
      rows: 1001,
      recipients: ['bank-a'],
    });
  });

  it('catches an edited entry', () => {
    const { file, lines } = sampleLog();
    lines[1] = (lines[1] ?? '').replace('"rows":1002', '"rows":2');
    rewrite(file, lines);
    const check = verifyAuditLog(file);
    expect(check.ok).toBe(false);
    expect(check.problems).toEqual(['line 2: content does not match its hash (entry edited)']);
  });

  it('catches an edited entry whose hash was recomputed (the next entry no longer chains)', () => {
    const { file, lines } = sampleLog();
    const entry = JSON.parse(lines[2] ?? '') as AuditEntry;
    entry.details['decision'] = 'declined';
    entry.hash = entryHash(entry); // a forger who can hash recomputes this entry's hash
    lines[2] = JSON.stringify(entry);
    rewrite(file, lines);
    const check = verifyAuditLog(file);
    expect(check.problems).toEqual([
      'line 4: does not chain to the previous entry (entry removed or reordered)',
    ]);
  });

  it('catches a deleted entry', () => {
    const { file, lines } = sampleLog();
    lines.splice(2, 1);
    rewrite(file, lines);
    const check = verifyAuditLog(file);
    expect(check.ok).toBe(false);
    expect(check.problems).toEqual([
      'line 3: sequence 4, expected 3 (entry removed, inserted or reordered)',
      'line 3: does not chain to the previous entry (entry removed or reordered)',
    ]);
  });

  it('catches reordered entries', () => {
    const { file, lines } = sampleLog();
    [lines[1], lines[3]] = [lines[3] ?? '', lines[1] ?? ''];
    rewrite(file, lines);
    const check = verifyAuditLog(file);
    expect(check.ok).toBe(false);
    expect(check.problems.some((p) => p.startsWith('line 2: sequence 4, expected 2'))).toBe(true);
    expect(check.problems.some((p) => p.startsWith('line 4:') && p.includes('does not chain'))).toBe(true);
  });

  it('catches a removed newest entry only against the recorded head (why the head goes in the register)', () => {
    const { file, lines } = sampleLog();
    const recordedHead = verifyAuditLog(file).head;
    rewrite(file, lines.slice(0, -1));
    const check = verifyAuditLog(file);
    expect(check.ok).toBe(true); // the chain alone cannot see a cut tail...
    expect(check.head).not.toBe(recordedHead); // ...the head noted outside the machine can
  });

  it('refuses to extend a broken log', () => {
    const { file, lines } = sampleLog();
    lines.splice(1, 1);
    rewrite(file, lines);
    expect(() => appendNodeAuditEvent(file, 'bundle-sent', sent(9))).toThrow(/Audit log is broken/);
  });
});

describe('audit export', () => {
  it('exports a time range that an inspector can check on its own', () => {
    const { file } = sampleLog();
    const doc = exportAuditLog(
      file,
      { from: new Date('2026-11-19T00:00:00Z'), to: new Date('2026-11-21T00:00:00Z') },
      new Date('2026-11-22T00:00:00Z'),
    );
    expect(doc.chain.ok).toBe(true);
    expect(doc.entries.map((e) => e.seq)).toEqual([2, 3]);
    expect(doc.anchor).toBe(verifyAuditLogHashOf(file, 1));
    expect(verifyAuditExport(doc)).toEqual([]);
    // JSON round trip: the file an inspector receives.
    expect(verifyAuditExport(JSON.parse(JSON.stringify(doc)) as typeof doc)).toEqual([]);
  });

  it('an edited, removed or reordered entry in the excerpt is caught', () => {
    const { file } = sampleLog();
    const range = { from: new Date('2026-11-18T00:00:00Z'), to: new Date('2026-11-30T00:00:00Z') };
    const edited = exportAuditLog(file, range);
    (edited.entries[1] as AuditEntry).details['rows'] = 1;
    expect(verifyAuditExport(edited)).toEqual(['entry 2 (seq 2): content does not match its hash (edited)']);
    const removed = exportAuditLog(file, range);
    removed.entries.splice(2, 1);
    expect(verifyAuditExport(removed).length).toBe(2);
    const reordered = exportAuditLog(file, range);
    reordered.entries.reverse();
    expect(verifyAuditExport(reordered).length).toBeGreaterThan(0);
  });

  it('a broken source log is exported with its problems, and the excerpt says so', () => {
    const { file, lines } = sampleLog();
    lines.splice(0, 1);
    rewrite(file, lines);
    const doc = exportAuditLog(file, {
      from: new Date('2026-11-18T00:00:00Z'),
      to: new Date('2026-11-30T00:00:00Z'),
    });
    expect(doc.chain.ok).toBe(false);
    expect(verifyAuditExport(doc)[0]).toMatch(/^the source log was already broken at export/);
  });
});

/** The hash of entry `seq` in a log. */
function verifyAuditLogHashOf(file: string, seq: number): string {
  const line = readFileSync(file, 'utf8').trimEnd().split('\n')[seq - 1] ?? '';
  return (JSON.parse(line) as AuditEntry).hash;
}
