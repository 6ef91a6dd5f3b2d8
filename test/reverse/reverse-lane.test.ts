// The reverse-lane guard (shared/reverse-lane.ts): every message kind, and refusals that list every problem.
import { describe, expect, it } from 'vitest';
import { ReverseLaneError } from '../../shared/errors.js';
import { residentIdCheckChar } from '../../shared/resident-id.js';
import {
  MAX_MESSAGE_BYTES,
  ReverseMessageError,
  parseReverseMessage,
  type ReverseMessage,
} from '../../shared/reverse-lane.js';

const ID17 = '11010519491231002';
const VALID_ID = `${ID17}${residentIdCheckChar(ID17)}`;
const where = 'test message';

function bytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function refusal(payloadKind: string, value: unknown): ReverseMessageError {
  try {
    parseReverseMessage(payloadKind, Buffer.isBuffer(value) ? value : bytes(value), where);
  } catch (error) {
    expect(error).toBeInstanceOf(ReverseMessageError);
    expect(error).toBeInstanceOf(ReverseLaneError);
    expect((error as ReverseMessageError).code).toBe('REVERSE_REFUSED');
    return error as ReverseMessageError;
  }
  throw new Error('expected a refusal');
}

const ack: ReverseMessage = {
  kind: 'ack',
  stream: 'county.bank-a.residents',
  sequences: [
    [1, 4],
    [6, 6],
  ],
  appliedAt: '2026-11-22T04:00:00.000Z',
};
const resend: ReverseMessage = { kind: 'resend-request', stream: 'county.bank-a.residents', from: 3, to: 9 };
const portrait: ReverseMessage = {
  kind: 'portrait-request',
  requestId: 'req-1',
  consent: {
    consentId: 'c-1',
    idNumber: VALID_ID,
    purpose: 'personal loan',
    scope: ['income_band'],
    grantedAt: '2026-11-01T00:00:00+08:00',
    expiresAt: '2027-11-01T00:00:00+08:00',
    verifiedBy: 'counter-face-check',
  },
  features: ['income_band'],
};
const certificate: ReverseMessage = {
  kind: 'certificate-announcement',
  pem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  usage: 'encrypt',
  notBefore: '2026-11-01T00:00:00Z',
  notAfter: '2027-11-01T00:00:00Z',
};

describe('parseReverseMessage', () => {
  it('accepts each message kind under its payload kind', () => {
    expect(parseReverseMessage('ack', bytes(ack), where)).toEqual(ack);
    expect(parseReverseMessage('request', bytes(resend), where)).toEqual(resend);
    expect(parseReverseMessage('request', bytes(portrait), where)).toEqual(portrait);
    expect(parseReverseMessage('certificate', bytes(certificate), where)).toEqual(certificate);
  });

  it('refuses a message under the wrong payload kind', () => {
    expect(refusal('ack', resend).problems.join()).toMatch(/payload kind 'request'/);
  });

  it('refuses garbage, non-UTF-8 and an unknown kind', () => {
    expect(refusal('ack', Buffer.from('not json')).problems).toEqual(['body is not UTF-8 JSON']);
    expect(refusal('ack', Buffer.from([0x7b, 0xff, 0x7d])).problems).toEqual(['body is not UTF-8 JSON']);
    expect(refusal('request', { kind: 'run-sql', sql: 'DROP TABLE x' }).problems.join()).toMatch(/kind/);
  });

  it('refuses an extra field and lists every problem at once', () => {
    const error = refusal('ack', { ...ack, sequences: [[5, 2]], appliedAt: 'yesterday', extra: 1 });
    expect(error.problems.length).toBeGreaterThanOrEqual(3);
    const all = error.problems.join('\n');
    expect(all).toMatch(/sequences\.0/);
    expect(all).toMatch(/appliedAt/);
    expect(all).toMatch(/extra/);
  });

  it('refuses a resend request over the span limit or backwards', () => {
    expect(refusal('request', { ...resend, from: 1, to: 1002 }).problems.join()).toMatch(/more than 1000/);
    expect(refusal('request', { ...resend, from: 9, to: 3 }).problems.join()).toMatch(/>= from/);
    expect(parseReverseMessage('request', bytes({ ...resend, from: 1, to: 1001 }), where)).toBeDefined();
  });

  it('refuses a bad resident ID without echoing it', () => {
    const bad = `${ID17}${residentIdCheckChar(ID17) === '0' ? '1' : '0'}`;
    const error = refusal('request', { ...portrait, consent: { ...portrait.consent, idNumber: bad } });
    expect(error.problems.join()).toMatch(/consent\.idNumber: not a valid resident ID \(check-digit\)/);
    expect(error.message).not.toContain(bad);
  });

  it('refuses an oversized body before parsing it, and a too-long PEM', () => {
    const big = Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x20);
    expect(refusal('ack', big).problems.join()).toMatch(/exceeds/);
    const pem = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(9000)}\n-----END CERTIFICATE-----\n`;
    expect(refusal('certificate', { ...certificate, pem }).problems.join()).toMatch(/pem/);
  });

  it('refuses the wrong certificate usage and a reversed validity', () => {
    const error = refusal('certificate', {
      ...certificate,
      usage: 'sign',
      notAfter: '2026-01-01T00:00:00Z',
    });
    expect(error.problems.join('\n')).toMatch(/usage/);
    expect(error.problems.join('\n')).toMatch(/notAfter: must be after notBefore/);
  });
});
