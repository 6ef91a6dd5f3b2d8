// Inner configuration (style.md rule 9): mapping files are read and every mapping is checked against
// its contract at start-up, with every problem listed; sources of each kind are validated.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { loadInnerConfig } from '../../inner-node/config.js';
import { ConfigError } from '../../shared/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'gbb-inner-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(config: Record<string, unknown>): string {
  const path = join(dir, 'inner-node.yaml');
  writeFileSync(path, stringify({ node: { name: 'county' }, banks: {}, ...config }));
  return path;
}

function problems(path: string): string[] {
  try {
    loadInnerConfig(path);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('inner configuration', () => {
  it('loads mapping files and lists every mapping that does not fit its contract', () => {
    mkdirSync(join(dir, 'mappings'), { recursive: true });
    writeFileSync(
      join(dir, 'mappings', 'vehicles.yaml'),
      stringify({ contract: 'vehicles', columns: { plate: { from: 'HPHM' }, colour: { from: 'YS' } } }),
    );
    const path = write({
      sources: { county: { kind: 'sqlite', path: 'county.db' } },
      datasets: {
        vehicles: {
          contract: 'vehicles',
          source: 'county',
          table: 'CL_DJ',
          watermark: 'GXSJ',
          mapping: 'mappings/vehicles.yaml',
        },
        enforcement: {
          contract: 'enforcement',
          source: 'county',
          table: 'ZX',
          watermark: 'GXSJ',
          columns: { case_number: { from: 'AH' }, amount: { from: 'ZXBD', on_error: 'null' } },
        },
      },
    });
    const listed = problems(path);
    expect(listed).toHaveLength(2);
    expect(listed[0]).toMatch(
      /datasets\.vehicles \(mappings\/vehicles\.yaml\): .*colour: not a column of contract vehicles.*id_number: required/,
    );
    expect(listed[1]).toMatch(/datasets\.enforcement: .*dishonest: required by the contract but not mapped/);
  });

  it('validates each source kind', () => {
    const path = write({
      sources: {
        pg: { kind: 'postgres', url: 'http://example' },
        maria: { kind: 'mariadb', url: 'mysql://r@10.0.0.1/db', encoding: 'big5' },
        file: { kind: 'csv', path: 'x.csv', delimiter: '|' },
      },
      datasets: {},
    });
    const listed = problems(path).join('\n');
    expect(listed).toMatch(/sources\.pg\.url.*postgresql:/);
    expect(listed).toMatch(/sources\.maria\.encoding/);
    expect(listed).toMatch(/sources\.file\.delimiter.*below 0x40/);
  });

  it('lists the dataset fields a source and a mode need', () => {
    const path = write({
      sources: {
        file: { kind: 'csv', path: 'x.csv' },
        pg: { kind: 'postgres', url: 'postgresql://r@10.0.0.1/db' },
      },
      datasets: {
        roll: { contract: 'poverty_alleviation', source: 'file', columns: { id_number: { from: 'a' } } },
        residents: { contract: 'residents', source: 'pg', columns: {}, mapping: 'm.yaml' },
      },
    });
    const listed = problems(path).join('\n');
    expect(listed).toMatch(/datasets\.roll\.watermark.*incremental dataset needs a watermark/);
    expect(listed).toMatch(/datasets\.residents\.table.*name the source table/);
    expect(listed).toMatch(/datasets\.residents\.mapping.*either a mapping file/);
  });
});
