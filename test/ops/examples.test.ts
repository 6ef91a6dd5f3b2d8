// The example configurations in deploy/examples/ (issue 8) are valid for the nodes as they are built
// now: each is loaded with the node's own configuration loader, so a schema change that breaks an
// example fails here instead of at a county office or a bank.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInnerConfig } from '../../inner-node/config.js';
import { loadOuterConfig } from '../../outer-node/config.js';
import { REPO } from './tools.js';

const EXAMPLES = join(REPO, 'deploy', 'examples');
const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));

describe('deploy/examples', () => {
  it('has an inner and an outer example for each database kind', () => {
    for (const side of ['inner', 'outer']) {
      for (const kind of ['sqlite', 'postgres', 'mariadb']) expect(files).toContain(`${side}-${kind}.yaml`);
    }
  });

  it.each(files.filter((f) => f.startsWith('inner-')))('%s is a valid inner-node configuration', (file) => {
    const settings = loadInnerConfig(join(EXAMPLES, file));
    expect(settings.folders.state).toBe('/var/lib/govbank-inner/state');
    expect(settings.folders.inbox.startsWith('/var/lib/govbank-inner/')).toBe(true);
  });

  it.each(files.filter((f) => f.startsWith('outer-')))('%s is a valid outer-node configuration', (file) => {
    const settings = loadOuterConfig(join(EXAMPLES, file));
    expect(settings.folders.state).toBe('/var/lib/govbank-outer/state');
    // Claims are renames from the inbox into state/: both under the one StateDirectory.
    expect(settings.folders.inbox.startsWith('/var/lib/govbank-outer/')).toBe(true);
    expect(settings.config.target.kind).toBe(file.replace(/^outer-|\.yaml$/g, ''));
  });
});
