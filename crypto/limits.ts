// Hard limits of the bundle format, both suites (docs/bundle-format.md, "Limits"). Every one of them is checked
// before the allocation or loop it would drive (style.md rule 5), on both the sealing and the opening side.

/** Magic bytes at offset 0 of every bundle: ASCII "GBBNDL". */
export const MAGIC = Buffer.from('GBBNDL', 'ascii');
/** Container format version carried right after the magic (u16 BE) and as header.format. */
export const FORMAT_VERSION = 1;
/** Bytes before the header: magic (6) + version (u16) + header length (u32). */
export const PREFIX_LENGTH = MAGIC.length + 2 + 4;

export const MAX_HEADER_BYTES = 64 * 1024;
export const MAX_SIGNATURE_BYTES = 512;
export const MAX_RECIPIENTS = 16;
export const MIN_SEGMENT_SIZE = 1024;
export const DEFAULT_SEGMENT_SIZE = 1024 * 1024;
export const MAX_SEGMENT_SIZE = 16 * 1024 * 1024;
/** Total plaintext per bundle; larger exports are split into several bundles of one stream. */
export const MAX_PLAINTEXT_BYTES = 64 * 1024 ** 3;
export const MAX_ROW_COUNT = 100_000_000;
/** The segment counter is a u32 in the nonce, so it must never wrap. */
export const MAX_SEGMENTS = 0xffff_ffff;
/** How far a bundle's createdAt may lie in the receiver's future before it is refused (clock skew). */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
/** Segment frame: flags (u8) + ciphertext length (u32 BE). */
export const FRAME_HEADER_LENGTH = 5;
export const GCM_TAG_LENGTH = 16;
/** Tag length of every segment in every suite: the GCM tag (intl-v1) or the truncated HMAC-SM3 (sm-v1). */
export const SEGMENT_TAG_LENGTH = GCM_TAG_LENGTH;
export const DATA_KEY_LENGTH = 32;
export const X25519_KEY_LENGTH = 32;
/** An uncompressed P-256 point (SEC 1): 0x04 || x (32) || y (32). */
export const P256_POINT_LENGTH = 65;
export const WRAPPED_KEY_LENGTH = DATA_KEY_LENGTH + GCM_TAG_LENGTH;
/** sm-v1 wrapped data key: SM2 ciphertext C1 (65) || C3 (32) || C2 (32). */
export const SM2_WRAPPED_KEY_LENGTH = 65 + 32 + DATA_KEY_LENGTH;
export const FLAG_MORE = 0x00;
export const FLAG_LAST = 0x01;
/** Length limits for header strings, so a header cannot smuggle large blobs in a name field. */
export const MAX_NAME_LENGTH = 64;
export const MAX_LABEL_LENGTH = 128;
