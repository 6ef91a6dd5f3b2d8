// Configuration is loaded once, validated against a schema, and refused at start-up with every
// problem listed, each with its path in the file, its line, and what was expected (style.md rule 9).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from './errors.js';

export interface LoadedConfig<T> {
  config: T;
  /** The configuration file's folder; relative paths in the file are resolved against it. */
  baseDir: string;
  path: string;
}

export function loadYamlConfig<S extends z.ZodType>(path: string, schema: S): LoadedConfig<z.output<S>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ConfigError(
      missing ? 'CONFIG_NOT_FOUND' : 'CONFIG_UNREADABLE',
      missing ? `Configuration file not found: ${path}` : `Cannot read configuration file ${path}`,
      {
        hint: missing ? 'Create one with `init DIR`, or pass --config PATH' : 'Check its permissions',
        cause: error,
      },
    );
  }
  return parseYamlConfig(text, path, schema);
}

export function parseYamlConfig<S extends z.ZodType>(
  text: string,
  path: string,
  schema: S,
): LoadedConfig<z.output<S>> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => {
      const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
      return `${pos ? `line ${pos.line}, column ${pos.col}: ` : ''}${e.message.split('\n')[0] ?? e.message}`;
    });
    throw new ConfigError('CONFIG_SYNTAX', `${path} is not valid YAML`, {
      problems,
      hint: 'Fix the syntax at the lines listed',
    });
  }
  let raw: unknown;
  try {
    // Resolving aliases can fail (an alias whose anchor is missing, an alias bomb): a syntax problem.
    raw = doc.toJS({ maxAliasCount: 1000 }) ?? {};
  } catch (error) {
    throw new ConfigError('CONFIG_SYNTAX', `${path} is not valid YAML`, {
      problems: [error instanceof Error ? error.message : String(error)],
      hint: 'Check every alias (*name) refers to an anchor (&name) defined before it',
      cause: error,
    });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const keyPath = issue.path.map(String);
      const node = doc.getIn(keyPath, true);
      let line = '';
      if (isNode(node) && node.range) line = ` (line ${lineCounter.linePos(node.range[0]).line})`;
      const where = keyPath.length > 0 ? keyPath.join('.') : '(top level)';
      return `${where}${line}: ${issue.message}`;
    });
    throw new ConfigError('CONFIG_INVALID', `${path} has ${problems.length} problem(s)`, {
      problems,
      hint: 'Correct every item listed; the node does not start half-configured',
    });
  }
  return { config: parsed.data, baseDir: dirname(resolve(path)), path: resolve(path) };
}

/** Resolves a path from the configuration file against the file's folder. */
export function resolveFrom(baseDir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** '30s', '5m', '7d' to milliseconds; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? Number.NaN);
}

const SIZE = /^(\d+)\s*(B|KiB|MiB|GiB)?$/;
const UNIT_BYTES: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** '64MiB', '512KiB', '1000' to bytes; undefined when the text is not a size. */
export function parseSize(text: string): number | undefined {
  const match = SIZE.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * (UNIT_BYTES[match[2] ?? 'B'] ?? Number.NaN);
}

/**
 * Sets (or, with undefined, removes) values of a YAML configuration file in place, keeping its
 * comments: for the demo, rehearsals and tests that switch a feature on in a generated configuration.
 */
export function editYamlConfig(file: string, edits: [string[], unknown][]): void {
  const doc = parseDocument(readFileSync(file, 'utf8'));
  for (const [path, value] of edits) {
    if (value === undefined) doc.deleteIn(path);
    else doc.setIn(path, value);
  }
  writeFileSync(file, doc.toString());
}
