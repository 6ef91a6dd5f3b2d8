// The logger: JSON lines, secrets redacted by key name, resident IDs masked at the sink.
import { describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../shared/logger.js';

const ID = '11010519491231002X';
const MASKED = '110105********002X';

function capture(level: 'info' | 'warn' | 'debug' = 'info'): {
  log: Logger;
  lines: string[];
  records: () => Record<string, unknown>[];
} {
  const lines: string[] = [];
  const log = createLogger({
    name: 'test',
    level,
    destination: { write: (line: string) => lines.push(line) },
  });
  return { log, lines, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('createLogger output', () => {
  it('writes one JSON object per line with level, time, name and msg', () => {
    const { log, lines, records } = capture();
    log.info('hello');
    log.error({ n: 1 }, 'broken');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line.endsWith('\n')).toBe(true);
    const [info, error] = records();
    expect(info).toMatchObject({ level: 30, name: 'test', msg: 'hello', pid: process.pid });
    expect(error).toMatchObject({ level: 50, name: 'test', msg: 'broken', n: 1 });
    for (const record of [info, error]) {
      expect(typeof record?.['time']).toBe('string');
      // An ISO 8601 instant with an explicit zone: never a naive time.
      expect(record?.['time']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(Number.isNaN(Date.parse(String(record?.['time'])))).toBe(false);
    }
  });

  it('honours the level', () => {
    const { log, lines } = capture('warn');
    log.info('dropped');
    log.debug('dropped');
    log.warn('kept');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('"kept"');
  });
});

describe('resident IDs never appear in full', () => {
  it('masks an ID in the message', () => {
    const { log, lines, records } = capture();
    log.info(`refused resident ${ID}`);
    expect(lines.join('')).not.toContain(ID);
    expect(records()[0]?.['msg']).toBe(`refused resident ${MASKED}`);
  });

  it('masks an ID in top-level and nested fields, arrays and keys', () => {
    const { log, lines, records } = capture();
    log.info(
      {
        id: ID,
        row: { person: { idNumber: ID, lower: ID.toLowerCase() } },
        ids: [ID, ID],
        byId: { [ID]: 1 },
      },
      'row',
    );
    const text = lines.join('');
    expect(text).not.toContain(ID);
    expect(text).not.toContain(ID.toLowerCase());
    const record = records()[0];
    expect(record).toMatchObject({
      id: MASKED,
      row: { person: { idNumber: MASKED, lower: MASKED.toLowerCase() } },
      ids: [MASKED, MASKED],
      byId: { [MASKED]: 1 },
    });
  });

  it('masks an ID inside an error message and its stack', () => {
    const { log, lines, records } = capture();
    log.error({ err: new Error(`no such resident ${ID}`) }, 'lookup failed');
    log.error(new Error(`bad id ${ID}`));
    const wrapped = new Error('outer', { cause: new Error(`inner ${ID}`) });
    log.warn({ err: wrapped }, 'wrapped');
    expect(lines).toHaveLength(3);
    expect(lines.join('')).not.toContain(ID);
    const [first, second] = records();
    expect((first?.['err'] as { message: string }).message).toBe(`no such resident ${MASKED}`);
    expect((first?.['err'] as { stack: string }).stack).toContain(MASKED);
    expect(second?.['msg']).toBe(`bad id ${MASKED}`);
  });

  it('masks IDs in child logger bindings', () => {
    const { log, lines } = capture();
    log.child({ resident: ID }).info('child');
    expect(lines.join('')).not.toContain(ID);
    expect(lines.join('')).toContain(MASKED);
  });

  it('leaves long account numbers intact', () => {
    const { log, records } = capture();
    log.info({ account: '62220212345678901234' }, 'ok');
    expect(records()[0]?.['account']).toBe('62220212345678901234');
  });
});

describe('secret-named keys are redacted', () => {
  const secrets = {
    passphrase: 'p1',
    password: 'p2',
    token: 'p3',
    privateKey: 'p4',
    pin: '123456',
    secret: 'p5',
    private_key: 'p6',
    dataKey: 'p7',
    authorization: 'Bearer p8',
  };
  const leaked = (text: string): string[] => Object.values(secrets).filter((value) => text.includes(value));

  it('at the top level', () => {
    const { log, lines, records } = capture();
    log.info({ ...secrets, visible: 'yes' }, 'top');
    expect(leaked(lines.join(''))).toEqual([]);
    const record = records()[0] ?? {};
    for (const key of Object.keys(secrets)) expect(record[key]).toBe('[redacted]');
    expect(record['visible']).toBe('yes');
  });

  it('one and two levels down, and inside arrays', () => {
    const { log, lines, records } = capture();
    log.info(
      {
        keys: { ...secrets },
        config: { db: { password: 'p2', token: 'p3', host: 'h' } },
        banks: [{ pin: '123456' }],
      },
      'nested',
    );
    expect(leaked(lines.join(''))).toEqual([]);
    expect(records()[0]).toMatchObject({
      keys: { passphrase: '[redacted]', privateKey: '[redacted]', pin: '[redacted]' },
      config: { db: { password: '[redacted]', token: '[redacted]', host: 'h' } },
      banks: [{ pin: '[redacted]' }],
    });
  });

  it('in child logger bindings', () => {
    const { log, lines } = capture();
    log.child({ token: 'p3', conn: { password: 'p2' } }).info('child');
    expect(leaked(lines.join(''))).toEqual([]);
  });

  it('does not touch keys that merely contain a secret word', () => {
    const { log, records } = capture();
    log.info({ tokens: 3, pinned: true }, 'x');
    expect(records()[0]).toMatchObject({ tokens: 3, pinned: true });
  });
});
