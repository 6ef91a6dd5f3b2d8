// Error families: name, code, cause, and a message that says where and what to do.
import { describe, expect, it } from 'vitest';
import {
  BridgeError,
  BundleError,
  ConfigError,
  KeyError,
  LoadError,
  MappingError,
  SourceError,
  VerificationError,
  describeError,
  errorCode,
  type ErrorDetails,
} from '../../shared/errors.js';

type Make = (message: string, details?: ErrorDetails) => BridgeError;

const FAMILIES: [string, string, Make][] = [
  ['ConfigError', 'CONFIG_INVALID', (m, d) => new ConfigError('CONFIG_INVALID', m, d)],
  ['BundleError', 'BUNDLE_MALFORMED', (m, d) => new BundleError('BUNDLE_MALFORMED', m, d)],
  ['VerificationError', 'VERIFY_REPLAYED', (m, d) => new VerificationError('VERIFY_REPLAYED', m, d)],
  ['MappingError', 'MAPPING_VALUE', (m, d) => new MappingError('MAPPING_VALUE', m, d)],
  ['LoadError', 'LOAD_CONSTRAINT', (m, d) => new LoadError('LOAD_CONSTRAINT', m, d)],
  ['KeyError', 'KEY_PASSPHRASE', (m, d) => new KeyError('KEY_PASSPHRASE', m, d)],
  ['SourceError', 'SOURCE_QUERY', (m, d) => new SourceError('SOURCE_QUERY', m, d)],
];

describe.each(FAMILIES)('%s', (family, code, make) => {
  it('has its family as name, its code, and is an Error', () => {
    const error = make('Something failed');
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(BridgeError);
    expect(error.name).toBe(family);
    expect(error.family).toBe(family);
    expect(error.code).toBe(code);
    expect(String(error)).toBe(`${family}: Something failed`);
    expect(error.stack).toContain(`${family}: Something failed`);
    expect(errorCode(error)).toBe(code);
  });

  it('says where and what to do, and keeps the cause', () => {
    const cause = new Error('ENOENT');
    const error = make('Cannot open the source', {
      where: 'county.db table RK_JBXX',
      hint: 'Check the path',
      cause,
    });
    expect(error.message).toBe('Cannot open the source (at county.db table RK_JBXX). Check the path');
    expect(error.where).toBe('county.db table RK_JBXX');
    expect(error.hint).toBe('Check the path');
    expect(error.cause).toBe(cause);
    expect(describeError(error)).toBe(error.message);
  });

  it('keeps the message plain without details, and has no cause', () => {
    const error = make('Plain');
    expect(error.message).toBe('Plain');
    expect(error.where).toBeUndefined();
    expect(error.hint).toBeUndefined();
    expect('cause' in error).toBe(false);
  });

  it('takes only where or only a hint', () => {
    expect(make('M', { where: 'W' }).message).toBe('M (at W)');
    expect(make('M', { hint: 'Do H' }).message).toBe('M. Do H');
  });
});

describe('ConfigError problems', () => {
  it('defaults to no problems', () => {
    expect(new ConfigError('CONFIG_NOT_FOUND', 'missing').problems).toEqual([]);
  });

  it('are listed one per line by describeError', () => {
    const error = new ConfigError('CONFIG_INVALID', 'f.yaml has 2 problem(s)', {
      problems: ['a (line 1): bad', 'b.c (line 3): worse'],
      hint: 'Correct every item listed',
    });
    expect(describeError(error)).toBe(
      'f.yaml has 2 problem(s). Correct every item listed\n  - a (line 1): bad\n  - b.c (line 3): worse',
    );
  });
});

describe('describeError and errorCode for other values', () => {
  it('describes plain errors and non-errors', () => {
    expect(describeError(new TypeError('boom'))).toBe('boom');
    expect(describeError('text')).toBe('text');
    expect(describeError(42)).toBe('42');
    expect(describeError(undefined)).toBe('undefined');
  });

  it('has no code for errors outside the families', () => {
    expect(errorCode(new Error('x'))).toBeUndefined();
    expect(errorCode({ code: 'CONFIG_INVALID' })).toBeUndefined();
  });
});
