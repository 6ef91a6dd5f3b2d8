// `inner-node init DIR`: a commented starting configuration and the folders the node needs.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../shared/errors.js';

export const INNER_FOLDERS = ['outbox', 'inbox', 'state', 'keys', 'trust', 'rejects', 'quarantine'] as const;

export interface InitOptions {
  name?: string;
  bank?: string;
  sourcePath?: string;
  force?: boolean;
}

export function innerConfigTemplate(options: InitOptions = {}): string {
  const name = options.name ?? 'county';
  const bank = options.bank ?? 'bank-a';
  const source = options.sourcePath ?? 'county.db';
  return `# govbank-bridge inner node (government side).
# Relative paths are resolved against this file's folder. Validate with: inner-node check --config FILE

node:
  name: ${name}                # this node's name; must match the CN of its certificates

folders:
  outbox: outbox               # sealed bundles for the ferry (main lane, inner to outer)
  inbox: inbox                 # reverse lane: acknowledgements and requests from banks
  state: state                 # cursors, sequence numbers, sent bundles kept for resends
  keys: keys                   # this node's private keys (0600) and certificates
  trust: trust                 # the bridge CA certificate, the CRL and the banks' certificates
  rejects: rejects             # rows refused by the mapping, with the reason, per run
  quarantine: quarantine       # refused reverse-lane messages

keys:
  # The passphrase that decrypts the private keys: from a file (mode 0600) or an environment
  # variable; never on the command line.
  passphrase_file: keys/passphrase
  # passphrase_env: BRIDGE_KEY_PASSPHRASE

sources:
  county:
    kind: sqlite
    path: ${source}
  # Other kinds (see docs/inner-node.md):
  # hukou:
  #   kind: postgres
  #   url: postgresql://reader@db.gov.local:5432/hukou
  #   password_file: secrets/hukou.password     # mode 0600, or password_env: NAME
  # shebao:
  #   kind: mariadb
  #   url: mysql://reader@db.gov.local:3306/shebao
  #   password_env: SHEBAO_PASSWORD             # text is decoded strictly from each column's charset
  # poverty:
  #   kind: csv
  #   path: poverty_alleviation.csv
  #   encoding: gb18030                         # utf-8, gbk or gb18030

datasets:
  residents:
    contract: residents        # the data contract (shared/contracts.ts)
    source: county
    table: RK_JBXX             # household-registration table
    watermark: GXSJ            # last-updated column, read by a (watermark, key) cursor
    watermark_format: 'yyyy-MM-dd HH:mm:ss'
    watermark_timezone: '+08:00'
    safety_lag: 5s             # rows newer than this wait for the next run (late commits)
    interval: 1m               # how often 'inner-node run' exports this dataset
    max_reject_ratio: 0.01     # stop the run if more rows than this are rejected
    drift: pause               # source columns added/removed/retyped: ignore | add_nullable | pause
    # mapping: mappings/residents.yaml   # a mapping file instead of the inline columns below
    columns:                   # contract column: source column and conversion, by name
      id_number: { from: SFZH }
      name: { from: XM }
      gender: { from: XB, codes: { '1': male, '2': female } }
      birth_date: { from: CSRQ, format: yyyyMMdd }
      ethnicity: { from: MZ }
      marital_status: { from: HYZK }
      address: { from: ZZ }
      household_type: { from: HKXZ, codes: { '1': urban, '2': rural } }
      updated_at: &updated_at { from: GXSJ, format: 'yyyy-MM-dd HH:mm:ss', timezone: '+08:00' }
  social_security:
    contract: social_security
    source: county
    table: SB_JFJL             # monthly contribution records
    watermark: GXSJ
    columns:
      id_number: { from: SFZH }
      month: { from: JFNY, format: yyyyMM }
      contribution_base: { from: JFJS, unit: fen }   # fen to yuan by exact scale shift
      personal_amount: { from: GRJF, unit: fen }
      employer_amount: { from: DWJF, unit: fen }
      employer_name: { from: DWMC }
      updated_at: *updated_at
  provident_fund:
    contract: provident_fund
    source: county
    table: GJJ_JCJL
    watermark: GXSJ
    columns:
      id_number: { from: SFZH }
      month: { from: JCNY, format: yyyyMM }
      monthly_deposit: { from: YJCE, unit: fen }
      balance: { from: ZHYE, unit: fen }
      status: { from: ZT }
      updated_at: *updated_at
  property:
    contract: property
    source: county
    table: FC_DJ
    watermark: GXSJ
    columns:
      unit_id: { from: BDCDYH }
      id_number: { from: SFZH }
      location: { from: ZL }
      floor_area: { from: JZMJ }
      appraised_value: { from: PGJZ, unit: fen }
      registered_on: { from: DJRQ, format: yyyyMMdd }
      updated_at: *updated_at
  vehicles:
    contract: vehicles
    source: county
    table: CL_DJ
    watermark: GXSJ
    columns:
      plate: { from: HPHM }
      id_number: { from: SFZH }
      vehicle_type: { from: CLLX }
      model: { from: PPXH }
      first_registered_on: { from: CCDJRQ, format: yyyyMMdd }
      updated_at: *updated_at
  enterprises:
    contract: enterprises
    source: county
    table: QY_DJ
    watermark: GXSJ
    columns:
      credit_code: { from: TYSHXYDM }
      enterprise_name: { from: QYMC }
      id_number: { from: FDDBR_SFZH }
      registered_capital: { from: ZCZB, unit: fen }
      established_on: { from: CLRQ, format: yyyyMMdd }
      status: { from: DJZT }
      updated_at: *updated_at
  enforcement:
    contract: enforcement
    source: county
    table: ZX_BZXR
    watermark: GXSJ
    columns:
      case_number: { from: AH }
      id_number: { from: SFZH }
      amount: { from: ZXBD, unit: fen }
      dishonest: { from: SXBZ, true: ['1'], false: ['0'] }
      filed_on: { from: LARQ, format: yyyyMMdd }
      closed_on: { from: JARQ, format: yyyyMMdd }
      updated_at: *updated_at

  # poverty_alleviation:     # a file has no watermark: snapshot mode sends changes and tombstones
  #   contract: poverty_alleviation
  #   source: poverty
  #   mode: snapshot
  #   columns:
  #     id_number: { from: 证件号码 }
  #     name: { from: 姓名 }
  #     status: { from: 帮扶状态, codes: { '1': lifted, '2': unstable, '3': marginal, '4': hardship } }
  #     recognised_year: { from: 认定年度 }

banks:
  ${bank}:
    datasets:
      # Which contract columns this bank may receive ('*' for all). Protected attributes such as
      # ethnicity and marital status are left out unless the county decides otherwise.
      residents: [id_number, name, gender, birth_date, address, household_type, updated_at]
      social_security: '*'
      provident_fund: '*'
      property: '*'
      vehicles: '*'
      enterprises: '*'
      enforcement: '*'
    # Portrait features this bank may receive for consent-backed lending requests ('*': all of the
    # definition; leave out: none). Each portrait still needs the person's consent (docs/lending.md).
    # portraits: [age, ss_months_12, ss_months_24, ss_contribution_base, pf_monthly_deposit, enforcement_open, dishonest_debtor]

# portraits:                   # answer consent-backed portrait requests from the banks (docs/lending.md)
#   source: county             # the SQLite county database the portraits are computed from
#   poverty_csv: ../county/poverty.csv   # the poverty-alleviation roll (GB18030), if any
#   definition: portraits.yaml # default: the definition shipped with the product

bundles:
  max_rows: 50000              # rows per bundle at most
  max_bytes: 64MiB             # plaintext bytes per bundle at most
  expires_after: 14d           # a bundle older than this is refused by the bank
  retention: 14d               # sent bundles are kept this long to serve resend requests
  catalogue_interval: 60s      # how often each bank gets a catalogue (latest sequence per stream)

metrics:                       # a Prometheus text file for node_exporter's textfile collector (no port)
  # file: /var/lib/prometheus/node-exporter/govbank-inner.prom   # no file: no metrics written
  interval: 15s                # how often 'inner-node run' rewrites it

# The hash-chained log of every bundle sent (docs/audit.md): audit.log in the state folder unless
# file is given (audit: { file: /var/log/govbank/inner-audit.log }); back it up with the state folder.
audit: {}
`;
}

export function initInnerNode(dir: string, options: InitOptions = {}): string[] {
  const configPath = join(dir, 'inner-node.yaml');
  if (existsSync(configPath) && !options.force) {
    throw new ConfigError('CONFIG_DIR_EXISTS', `${configPath} already exists`, {
      hint: 'Choose another folder, or pass --force to overwrite the configuration',
    });
  }
  mkdirSync(dir, { recursive: true });
  const created: string[] = [];
  for (const folder of INNER_FOLDERS) {
    mkdirSync(join(dir, folder), { recursive: true, mode: folder === 'keys' ? 0o700 : 0o750 });
    created.push(join(dir, folder));
  }
  writeFileSync(configPath, innerConfigTemplate(options), { mode: 0o640 });
  created.push(configPath);
  return created;
}
