// Make the compiled command entry points executable, so npm's bin links run them directly.
import { chmodSync, existsSync } from 'node:fs';

const bins = [
  'dist/inner-node/cli.js',
  'dist/outer-node/cli.js',
  'dist/crypto/cli.js',
  'dist/shared/ferry/cli.js',
];
for (const bin of bins) {
  if (existsSync(bin)) chmodSync(bin, 0o755);
}
