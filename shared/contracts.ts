// Data contracts: the agreed shape of each dataset in the middle, between the government's sources
// and each bank's schema (design 3). Both nodes read these; the fingerprint (computed by the crypto
// module from the canonical form) travels in every bundle header so a mismatch is caught on arrival.

export type ContractType =
  | { kind: 'string'; maxLength?: number }
  | { kind: 'resident_id' }
  | { kind: 'date' } // 'YYYY-MM-DD'
  | { kind: 'month' } // 'YYYY-MM'
  | { kind: 'timestamp' } // ISO 8601 with an explicit offset
  | { kind: 'decimal'; precision: number; scale: number } // exact decimal as a string, e.g. '1234.50'
  | { kind: 'integer' }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[] };

export interface ContractColumn {
  name: string;
  type: ContractType;
  nullable: boolean;
  description: string;
}

export interface DataContract {
  name: string;
  version: number;
  description: string;
  columns: readonly ContractColumn[];
  key: readonly string[];
}

const str = (maxLength?: number): ContractType =>
  maxLength ? { kind: 'string', maxLength } : { kind: 'string' };
const col = (name: string, type: ContractType, description: string, nullable = false): ContractColumn => ({
  name,
  type,
  nullable,
  description,
});
const id = (description = 'Resident ID number (18 characters, check digit verified)'): ContractColumn =>
  col('id_number', { kind: 'resident_id' }, description);
const updatedAt = col('updated_at', { kind: 'timestamp' }, 'When the source record last changed');
const yuan = (precision = 18): ContractType => ({ kind: 'decimal', precision, scale: 2 });

export const CONTRACTS: Readonly<Record<string, DataContract>> = {
  residents: {
    name: 'residents',
    version: 1,
    description: 'Registered residents (household registration)',
    key: ['id_number'],
    columns: [
      id(),
      col('name', str(64), 'Full name'),
      col('gender', { kind: 'enum', values: ['male', 'female'] }, 'Gender (protected: never a model input)'),
      col('birth_date', { kind: 'date' }, 'Date of birth'),
      col('ethnicity', str(16), 'Ethnicity code (protected: never a model input)', true),
      col('marital_status', str(16), 'Marital status code (protected: never a model input)', true),
      col('address', str(200), 'Registered address', true),
      col(
        'household_type',
        { kind: 'enum', values: ['urban', 'rural'] },
        'Household registration type',
        true,
      ),
      updatedAt,
    ],
  },
  social_security: {
    name: 'social_security',
    version: 1,
    description: 'Monthly social-security contributions',
    key: ['id_number', 'month'],
    columns: [
      id(),
      col('month', { kind: 'month' }, 'Contribution month'),
      col('contribution_base', yuan(), 'Contribution base in yuan'),
      col('personal_amount', yuan(), 'Personal contribution in yuan'),
      col('employer_amount', yuan(), 'Employer contribution in yuan'),
      col('employer_name', str(200), 'Employer', true),
      updatedAt,
    ],
  },
  provident_fund: {
    name: 'provident_fund',
    version: 1,
    description: 'Housing provident fund monthly deposits',
    key: ['id_number', 'month'],
    columns: [
      id(),
      col('month', { kind: 'month' }, 'Deposit month'),
      col('monthly_deposit', yuan(), 'Monthly deposit in yuan'),
      col('balance', yuan(), 'Account balance in yuan'),
      col('status', str(16), 'Account status code', true),
      updatedAt,
    ],
  },
  property: {
    name: 'property',
    version: 1,
    description: 'Real-estate registrations',
    key: ['unit_id'],
    columns: [
      col('unit_id', str(40), 'Real-estate unit number'),
      id('Owner resident ID number'),
      col('location', str(200), 'Location', true),
      col('floor_area', { kind: 'decimal', precision: 10, scale: 2 }, 'Floor area in square metres', true),
      col('appraised_value', yuan(), 'Appraised value in yuan', true),
      col('registered_on', { kind: 'date' }, 'Registration date', true),
      updatedAt,
    ],
  },
  vehicles: {
    name: 'vehicles',
    version: 1,
    description: 'Motor-vehicle registrations',
    key: ['plate'],
    columns: [
      col('plate', str(16), 'Number plate'),
      id('Owner resident ID number'),
      col('vehicle_type', str(16), 'Vehicle type code', true),
      col('model', str(64), 'Brand and model', true),
      col('first_registered_on', { kind: 'date' }, 'First registration date', true),
      updatedAt,
    ],
  },
  enterprises: {
    name: 'enterprises',
    version: 1,
    description: 'Business registrations',
    key: ['credit_code'],
    columns: [
      col('credit_code', str(18), 'Unified social credit code'),
      col('enterprise_name', str(200), 'Registered name'),
      id('Legal representative resident ID number'),
      col('registered_capital', yuan(), 'Registered capital in yuan', true),
      col('established_on', { kind: 'date' }, 'Date established', true),
      col('status', str(16), 'Registration status code', true),
      updatedAt,
    ],
  },
  enforcement: {
    name: 'enforcement',
    version: 1,
    description: 'Court enforcement cases and the dishonest-debtor list',
    key: ['case_number'],
    columns: [
      col('case_number', str(64), 'Case number'),
      id('Debtor resident ID number'),
      col('amount', yuan(), 'Amount under enforcement in yuan', true),
      col('dishonest', { kind: 'boolean' }, 'On the dishonest-debtor list'),
      col('filed_on', { kind: 'date' }, 'Date the case was filed', true),
      col('closed_on', { kind: 'date' }, 'Date the case was closed', true),
      updatedAt,
    ],
  },
  poverty_alleviation: {
    name: 'poverty_alleviation',
    version: 1,
    description: "Poverty-alleviation roll (from the county office's delimited-file export)",
    key: ['id_number'],
    columns: [
      id(),
      col('name', str(64), 'Full name'),
      col(
        'status',
        { kind: 'enum', values: ['lifted', 'unstable', 'marginal', 'hardship'] },
        'Status: lifted out of poverty, at risk of falling back, marginal, sudden hardship',
      ),
      col('recognised_year', { kind: 'integer' }, 'Year the status was recognised'),
    ],
  },
};

export function findContract(name: string): DataContract | undefined {
  return Object.hasOwn(CONTRACTS, name) ? CONTRACTS[name] : undefined;
}

/** The canonical form that is fingerprinted: only what changes the meaning of the data. */
export function canonicalContract(contract: DataContract): unknown {
  return {
    name: contract.name,
    version: contract.version,
    key: contract.key,
    columns: contract.columns.map((c) => ({ name: c.name, type: c.type, nullable: c.nullable })),
  };
}
