// Time is never a naive string (style.md rule 15): helpers that format an instant in a stated UTC
// offset, for comparing against source watermark columns stored as local text.

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

export function offsetMinutes(offset: string): number {
  if (offset === 'Z') return 0;
  const match = /^([+-])(\d{2}):(\d{2})$/.exec(offset);
  if (!match) throw new RangeError(`not a UTC offset: ${offset}`);
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === '-' ? -minutes : minutes;
}

/** Formats an instant as local time at the given offset in one of the supported source formats. */
export function formatInstant(instant: Date, format: string, offset: string): string {
  const local = new Date(instant.getTime() + offsetMinutes(offset) * 60_000);
  const y = pad(local.getUTCFullYear(), 4);
  const mo = pad(local.getUTCMonth() + 1);
  const d = pad(local.getUTCDate());
  const h = pad(local.getUTCHours());
  const mi = pad(local.getUTCMinutes());
  const s = pad(local.getUTCSeconds());
  switch (format) {
    case 'yyyy-MM-dd HH:mm:ss':
      return `${y}-${mo}-${d} ${h}:${mi}:${s}`;
    case 'yyyyMMddHHmmss':
      return `${y}${mo}${d}${h}${mi}${s}`;
    case 'iso':
      return `${y}-${mo}-${d}T${h}:${mi}:${s}${offset}`;
    default:
      throw new RangeError(`unsupported timestamp format: ${format}`);
  }
}

export const WATERMARK_FORMATS = ['yyyy-MM-dd HH:mm:ss', 'yyyyMMddHHmmss', 'iso'] as const;
