// The README's results table is generated from bench/results.json and must match it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { END, renderResultsTable, START } from '../../bench/results-table.js';
import type { ResultsFile } from '../../bench/harness.js';

const repo = join(import.meta.dirname, '../..');

describe('README results', () => {
  it('holds exactly the table rendered from bench/results.json', () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    const results = JSON.parse(readFileSync(join(repo, 'bench/results.json'), 'utf8')) as ResultsFile;
    const section = readme.slice(readme.indexOf(START) + START.length, readme.indexOf(END)).trim();
    expect(section).toBe(renderResultsTable(results));
    expect(Object.keys(results.metrics).length).toBeGreaterThan(0);
  });
});
