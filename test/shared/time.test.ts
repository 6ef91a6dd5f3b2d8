// Formatting instants in a stated UTC offset (watermarks compared against local-time source text).
import { describe, expect, it } from 'vitest';
import { WATERMARK_FORMATS, formatInstant, offsetMinutes } from '../../shared/time.js';

describe('offsetMinutes', () => {
  it('parses offsets', () => {
    expect(offsetMinutes('Z')).toBe(0);
    expect(offsetMinutes('+08:00')).toBe(480);
    expect(offsetMinutes('+05:30')).toBe(330);
    expect(offsetMinutes('-03:30')).toBe(-210);
    expect(offsetMinutes('-00:00')).toBe(-0);
  });

  it('refuses what is not an offset', () => {
    for (const text of ['', '+8', '+0800', 'UTC', 'Asia/Shanghai', '08:00', '+08:00:00']) {
      expect(() => offsetMinutes(text), text).toThrow(RangeError);
    }
  });
});

describe('formatInstant', () => {
  it('crosses the day, month and year boundary at +08:00', () => {
    const instant = new Date('2024-12-31T16:30:05Z');
    expect(formatInstant(instant, 'yyyy-MM-dd HH:mm:ss', '+08:00')).toBe('2025-01-01 00:30:05');
    expect(formatInstant(instant, 'yyyyMMddHHmmss', '+08:00')).toBe('20250101003005');
    expect(formatInstant(instant, 'iso', '+08:00')).toBe('2025-01-01T00:30:05+08:00');
    // One second before local midnight is still the old day.
    expect(formatInstant(new Date('2024-12-31T15:59:59Z'), 'yyyy-MM-dd HH:mm:ss', '+08:00')).toBe(
      '2024-12-31 23:59:59',
    );
  });

  it('lands on a leap day', () => {
    expect(formatInstant(new Date('2024-02-28T16:00:00Z'), 'yyyy-MM-dd HH:mm:ss', '+08:00')).toBe(
      '2024-02-29 00:00:00',
    );
  });

  it('goes back a day for negative offsets, and is UTC for Z', () => {
    const instant = new Date('2024-03-01T02:00:00Z');
    expect(formatInstant(instant, 'yyyy-MM-dd HH:mm:ss', '-05:00')).toBe('2024-02-29 21:00:00');
    expect(formatInstant(instant, 'iso', 'Z')).toBe('2024-03-01T02:00:00Z');
  });

  it('does not depend on the process time zone', () => {
    const instant = new Date(Date.UTC(2023, 5, 15, 23, 0, 0));
    expect(formatInstant(instant, 'iso', '+08:00')).toBe('2023-06-16T07:00:00+08:00');
  });

  it('the iso form parses back to the same instant', () => {
    const instant = new Date('2024-07-01T12:34:56Z');
    for (const offset of ['+08:00', '-05:00', '+05:30', 'Z']) {
      expect(new Date(formatInstant(instant, 'iso', offset)).getTime()).toBe(instant.getTime());
    }
  });

  it('supports every watermark format and refuses others', () => {
    for (const format of WATERMARK_FORMATS) expect(formatInstant(new Date(0), format, 'Z')).toContain('1970');
    expect(() => formatInstant(new Date(0), 'yyyy/MM/dd', '+08:00')).toThrow(RangeError);
    expect(() => formatInstant(new Date(0), 'iso', 'CST')).toThrow(RangeError);
  });
});
