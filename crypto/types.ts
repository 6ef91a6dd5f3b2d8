// The public shapes of the crypto module: the only door to cryptography (style.md rule 2).
// Nodes use these types and the verbs exported from crypto/index.ts, nothing else.

export type SuiteName = 'intl-v1' | 'sm-v1';

export type PayloadKind =
  'rows' | 'tombstones' | 'portrait' | 'request' | 'ack' | 'certificate' | 'revocation-list' | 'catalogue';

export type NodeRole = 'inner' | 'outer';

/** One recipient's copy of the per-bundle data key. */
export interface RecipientEntry {
  /** Key id of the recipient's encryption public key (see keyIdOf). */
  keyId: string;
  /** Key-wrapping algorithm, e.g. 'x25519-hkdf-sha256-aes256gcm', 'p256-hkdf-sha256-aes256gcm', 'sm2-encrypt'. */
  alg: string;
  /** Base64 fields the algorithm needs (ephemeral public key, wrapped key, ...). */
  [field: string]: string;
}

/** The cleartext, signed header of a bundle. Field names are part of the format (docs/bundle-format.md). */
export interface BundleHeader {
  format: 1;
  suite: SuiteName;
  bundleId: string;
  sender: { name: string; keyId: string };
  recipients: RecipientEntry[];
  dataset: string;
  contract: string;
  stream: string;
  sequence: number;
  rowCount: number;
  kind: PayloadKind;
  createdAt: string;
  expiresAt: string;
  segmentSize: number;
}

/** Header fields chosen by the caller; the crypto module fills in the rest. */
export interface BundleDescription {
  dataset: string;
  /** Contract fingerprint (see fingerprintContract), or '-' for payloads without a contract. */
  contract: string;
  stream: string;
  sequence: number;
  rowCount: number;
  kind: PayloadKind;
  createdAt?: Date;
  expiresAt: Date;
}

/** A certificate of a peer node (or of this node), as read from a trust folder or keys folder. */
export interface PeerCertificate {
  /** Node name (certificate subject CN). */
  name: string;
  role: NodeRole;
  usage: 'sign' | 'encrypt';
  /** Key id of the certified public key (see keyIdOf). */
  keyId: string;
  notBefore: Date;
  notAfter: Date;
  /** Serial number, lowercase hex without leading zeros (as in CRLs). */
  serial: string;
  pem: string;
  /** File the certificate was read from. */
  file: string;
}

/**
 * A node's own key material. The private keys are not properties of this object (they live in a
 * module-private table), so logging or serialising an Identity can never leak them.
 */
export interface Identity {
  readonly name: string;
  readonly role: NodeRole;
  readonly signKeyId: string;
  readonly signAlgorithm: 'ed25519' | 'ecdsa-p256' | 'sm2';
  /** Key ids of every decryption key held: the current one first, then kept older ones. */
  readonly encKeyIds: readonly string[];
  readonly keysDir: string;
  /** This node's signing certificate. */
  readonly signCertificate: PeerCertificate;
}

/** A certificate in a trust folder that cannot be trusted, and why. */
export interface TrustProblem {
  file: string;
  reason: string;
  name?: string;
  keyId?: string;
}

/** What a node trusts: one CA, its CRL, and the peer certificates that chain to it. */
export interface TrustStore {
  readonly dir: string;
  readonly caSubject: string;
  readonly caKeyId: string;
  readonly caPem: string;
  /** Peer certificates whose signature chains to the CA (validity and revocation are checked at use). */
  readonly peers: readonly PeerCertificate[];
  /** Certificates found in peers/ that do not chain to the CA or are malformed; never used. */
  readonly problems: readonly TrustProblem[];
  /** Revoked serials (normalised hex) and their revocation time, from crl.pem. */
  readonly revoked: ReadonlyMap<string, Date>;
  readonly crlThisUpdate: Date | undefined;
  readonly crlNextUpdate: Date | undefined;
}
