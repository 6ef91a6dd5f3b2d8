// Operator inspection of a bundle without decrypting it (`bridge-keys inspect`), and extraction of the
// exact signed bytes so a security officer can re-check the header signature and the certificate chain
// with stock openssl (docs/key-rotation.md, "Checking a bundle with openssl").
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeError } from '../shared/errors.js';
import { writePublicFile } from './key-files.js';
import { readBundleEnvelope, verifyEnvelopeSignature } from './open.js';
import { headerSignaturePreimage } from './preimage.js';
import { createSuiteHash, labelledDigest, suiteNamed } from './suites.js';
import { CRL_FILE, publicKeyOf } from './trust-store.js';
import type { BundleHeader, NodeRole, PeerCertificate, TrustStore } from './types.js';

export interface BundleInspection {
  header: BundleHeader;
  headerBytes: number;
  headerDigest: string;
  /** Present when a trust store was given and the sender's certificate was found and usable. */
  signer?: PeerCertificate;
  verdict: { ok: boolean; code: string; message: string };
}

/** Reads the header and, with a trust store, checks sender, certificate and header signature at `now`. */
export async function inspectBundle(opts: {
  path: string;
  trust?: TrustStore;
  now?: Date;
  expectSenderRole?: NodeRole;
}): Promise<BundleInspection> {
  const envelope = await readBundleEnvelope(opts.path);
  const base = {
    header: envelope.header,
    headerBytes: envelope.headerBytes.length,
    headerDigest: labelledDigest(
      suiteNamed(envelope.header.suite),
      createSuiteHash(suiteNamed(envelope.header.suite)).update(envelope.headerBytes).digest(),
    ),
  };
  if (!opts.trust) {
    return {
      ...base,
      verdict: { ok: false, code: 'UNVERIFIED', message: 'No trust folder given: header not verified' },
    };
  }
  try {
    const signer = verifyEnvelopeSignature(
      envelope,
      opts.trust,
      opts.now ?? new Date(),
      opts.expectSenderRole,
      `${opts.path}, bundle ${envelope.header.bundleId}`,
    );
    return {
      ...base,
      signer,
      verdict: {
        ok: true,
        code: 'HEADER_VERIFIED',
        message: `Header signed by ${signer.name} (${signer.role}), certificate serial ${signer.serial} chains to ${opts.trust.caSubject}; body not checked (needs the recipient's key)`,
      },
    };
  } catch (error) {
    if (error instanceof BridgeError) {
      const { code, message } = error as BridgeError<string>;
      return { ...base, verdict: { ok: false, code, message } };
    }
    throw error;
  }
}

/**
 * Writes the evidence for an independent check: header.json (the exact signed header bytes),
 * header.preimage (what the signature covers), header.sig (raw signature), the signer's certificate and
 * public key, the CA certificate and, when present, the CRL.
 */
export async function extractBundleEvidence(opts: {
  path: string;
  trust: TrustStore;
  outDir: string;
}): Promise<string[]> {
  const envelope = await readBundleEnvelope(opts.path);
  const { sender } = envelope.header;
  const signer = opts.trust.peers.find(
    (c) => c.usage === 'sign' && c.name === sender.name && c.keyId === sender.keyId,
  );
  mkdirSync(opts.outDir, { recursive: true });
  const written: string[] = [];
  const put = (name: string, data: string | Uint8Array): void => {
    const file = join(opts.outDir, name);
    writePublicFile(file, data);
    written.push(file);
  };
  putBinary(opts.outDir, 'header.json', envelope.headerBytes, written);
  putBinary(
    opts.outDir,
    'header.preimage',
    headerSignaturePreimage(envelope.headerBytes, envelope.header.suite),
    written,
  );
  putBinary(opts.outDir, 'header.sig', envelope.headerSignature, written);
  put('ca.cert.pem', opts.trust.caPem + '\n');
  const crl = join(opts.trust.dir, CRL_FILE);
  if (existsSync(crl)) {
    copyFileSync(crl, join(opts.outDir, 'crl.pem'));
    written.push(join(opts.outDir, 'crl.pem'));
  }
  if (signer) {
    put('signer.cert.pem', signer.pem + '\n');
    put('signer.pub.pem', publicKeyOf(signer).export({ type: 'spki', format: 'pem' }));
  }
  return written;
}

function putBinary(dir: string, name: string, data: Uint8Array, written: string[]): void {
  const file = join(dir, name);
  writePublicFile(file, data);
  written.push(file);
}
