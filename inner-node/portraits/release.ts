// Portrait release on the government side (design 7): a portrait crosses only with the person's
// consent (sent by the bank over the reverse lane: id, purpose, scope, expiry, verified) or within a
// county-approved batch programme, and only with the features the county lets that bank receive.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  checkConsent,
  checkProgramme,
  computePortrait,
  parsePortraitDefinition,
  restrictPortrait,
  type BatchProgramme,
  type Consent,
  type PersonRecords,
  type Portrait,
  type PortraitDefinition,
} from '../../shared/portrait.js';

/** The definition shipped with the product (inner-node/portraits/portrait-definition.yaml). */
// Compiled code runs from dist/inner-node/portraits; the YAML stays beside the sources.
export const DEFAULT_DEFINITION_FILE = resolve(
  import.meta.dirname,
  /[\\/]dist[\\/]inner-node[\\/]portraits$/.test(import.meta.dirname) ? '../../../inner-node/portraits' : '.',
  'portrait-definition.yaml',
);

export function loadPortraitDefinition(path = DEFAULT_DEFINITION_FILE): PortraitDefinition {
  return parsePortraitDefinition(parseYaml(readFileSync(path, 'utf8')), path);
}

/** What the county lets one bank receive: set per bank by the county data office. */
export interface BankPortraitGrant {
  bank: string;
  features: readonly string[];
}

export type ReleaseAuthority = { consent: Consent } | { programme: BatchProgramme };

export type ReleaseResult =
  { released: true; portrait: Portrait; features: string[] } | { released: false; problems: string[] };

/**
 * Computes and releases one person's portrait to a bank, or says why not. The released features are
 * those the bank is granted AND the consent or programme covers (a consent scope of '*' means every
 * granted feature). Pure: the records, the authority and `now` are arguments.
 */
export function releasePortrait(
  records: PersonRecords,
  definition: PortraitDefinition,
  grant: BankPortraitGrant,
  authority: ReleaseAuthority,
  purpose: string,
  now: Date,
): ReleaseResult {
  const granted = definition.features.filter((f) => grant.features.includes(f));
  if (granted.length === 0)
    return { released: false, problems: [`bank ${grant.bank} is granted no features`] };
  let features: string[];
  let problems: string[];
  if ('consent' in authority) {
    const scope = authority.consent.scope;
    features = scope.includes('*') ? granted : granted.filter((f) => scope.includes(f));
    problems = checkConsent(
      authority.consent,
      { idNumber: records.resident.id_number, bank: grant.bank, purpose, features },
      now,
    ).map((p) => `${p.problem}: ${p.detail}`);
  } else {
    features = granted.filter((f) => authority.programme.features.includes(f));
    problems = checkProgramme(authority.programme, { bank: grant.bank, purpose, features }, now);
  }
  if (features.length === 0) problems.push('nothing is both granted and consented');
  if (problems.length > 0) return { released: false, problems };
  return {
    released: true,
    portrait: restrictPortrait(computePortrait(records, definition, now), features),
    features,
  };
}
