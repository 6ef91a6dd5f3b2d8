// The lending boundary's error family (style.md rule 8): what failed, where, and what to do.
import { BridgeError } from '../../shared/errors.js';

export type LendingErrorCode =
  | 'LEND_DATA'
  | 'LEND_PROTECTED_ATTRIBUTE'
  | 'LEND_NO_CHARACTERISTICS'
  | 'LEND_NOT_CONVERGED'
  | 'LEND_MODEL'
  | 'LEND_POLICY'
  | 'LEND_APPLICATION'
  | 'LEND_PORTRAIT';

export class LendingError extends BridgeError<LendingErrorCode> {
  readonly family = 'LendingError';
}
