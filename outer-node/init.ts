// `outer-node init DIR`: a commented starting configuration and the folders the node needs.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../shared/errors.js';

export const OUTER_FOLDERS = ['inbox', 'outbox', 'state', 'keys', 'trust', 'rejects', 'quarantine'] as const;

export interface InitOptions {
  name?: string;
  sender?: string;
  targetPath?: string;
  force?: boolean;
}

export function outerConfigTemplate(options: InitOptions = {}): string {
  return `# govbank-bridge outer node (bank side).
# Relative paths are resolved against this file's folder. Validate with: outer-node check --config FILE

node:
  name: ${options.name ?? 'bank-a'}               # this bank node's name; must match its certificates' CN

folders:
  inbox: inbox                 # bundles delivered by the ferry (main lane)
  outbox: outbox               # reverse lane: acknowledgements, resend and portrait requests
  state: state                 # task states and claimed bundles being worked on
  keys: keys                   # this node's private keys (0600) and certificates
  trust: trust                 # the bridge CA certificate, the CRL and the inner nodes' certificates
  rejects: rejects             # rows refused by the bank mapping, with the reason
  quarantine: quarantine       # bundles refused for good, each with a .reason.json beside it

keys:
  passphrase_file: keys/passphrase
  # passphrase_env: BRIDGE_KEY_PASSPHRASE

senders: [${options.sender ?? 'county'}]              # inner nodes whose bundles are accepted

target:
  kind: sqlite
  path: ${options.targetPath ?? 'bank.db'}

datasets:
  residents:                   # contract name
    table: GOV_RESIDENT        # the bank's table
    columns:                   # contract column: bank column (by name; order does not matter)
      id_number: ZJHM
      name: KHXM
      gender: XB
      birth_date: CSRQ
      address: DZ
      household_type: HJLX
      updated_at: ZHGXSJ
  social_security:
    table: GOV_SOCIAL_INSURANCE
    columns: { id_number: ZJHM, month: JFYF, contribution_base: JFJS_YUAN, personal_amount: GRJF_YUAN,
               employer_amount: DWJF_YUAN, employer_name: DWMC, updated_at: ZHGXSJ }
  provident_fund:
    table: GOV_HOUSING_FUND
    columns: { id_number: ZJHM, month: JCYF, monthly_deposit: YJCE_YUAN, balance: ZHYE_YUAN, status: ZHZT,
               updated_at: ZHGXSJ }
  property:
    table: GOV_REAL_ESTATE
    columns: { unit_id: BDCDYH, id_number: ZJHM, location: ZL, floor_area: MJ, appraised_value: PGJZ_YUAN,
               registered_on: DJRQ, updated_at: ZHGXSJ }
  vehicles:
    table: GOV_VEHICLE
    columns: { plate: HPHM, id_number: ZJHM, vehicle_type: CLLX, model: PPXH, first_registered_on: CCDJRQ,
               updated_at: ZHGXSJ }
  enterprises:
    table: GOV_ENTERPRISE
    columns: { credit_code: TYSHXYDM, enterprise_name: QYMC, id_number: FRZJHM, registered_capital: ZCZB_YUAN,
               established_on: CLRQ, status: DJZT, updated_at: ZHGXSJ }
  enforcement:
    table: GOV_ENFORCEMENT
    columns: { case_number: AH, id_number: ZJHM, amount: ZXBD_YUAN, dishonest: SXBZ, filed_on: LARQ,
               closed_on: JARQ, updated_at: ZHGXSJ }

import:
  poll_interval: 2s            # how often the inbox is scanned besides file-system events
  workers: 1
  batch_rows: 5000
  resend_after: 30s            # ask the inner node again for a sequence missing this long (reverse lane)

metrics:                       # a Prometheus text file for node_exporter's textfile collector (no port)
  # file: /var/lib/prometheus/node-exporter/govbank-outer.prom   # no file: no metrics written
  interval: 5s                 # how often \`outer-node run\` rewrites it

lending:                       # answer lend_applications in lend_decisions (docs/lending.md)
  # model: lending/model.json  # from 'outer-node lend train'; model and policy together switch lending on
  # policy: lending/policy.yaml
  # db: bank.db                # the SQLite database with the lend_* tables (default: a SQLite target)
  watch: true                  # \`outer-node run\` answers applications alongside the imports
  interval: 1s                 # how often the applications table is looked at
  portrait_wait: 10m           # refer an application whose portrait has not arrived by then
`;
}

export function initOuterNode(dir: string, options: InitOptions = {}): string[] {
  const configPath = join(dir, 'outer-node.yaml');
  if (existsSync(configPath) && !options.force) {
    throw new ConfigError('CONFIG_DIR_EXISTS', `${configPath} already exists`, {
      hint: 'Choose another folder, or pass --force to overwrite the configuration',
    });
  }
  mkdirSync(dir, { recursive: true });
  const created: string[] = [];
  for (const folder of OUTER_FOLDERS) {
    mkdirSync(join(dir, folder), { recursive: true, mode: folder === 'keys' ? 0o700 : 0o750 });
    created.push(join(dir, folder));
  }
  writeFileSync(configPath, outerConfigTemplate(options), { mode: 0o640 });
  created.push(configPath);
  return created;
}
