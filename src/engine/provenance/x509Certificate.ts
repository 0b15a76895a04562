// A minimal X.509 v3 certificate writer (DER, RFC 5280) for Ed25519 keys: enough to issue the local
// signing identity a C2PA claim needs when the user has configured none — a self-signed CA and a leaf
// certificate it issues. Node's crypto parses certificates but cannot make them; only the encodings used
// here are implemented (SEQUENCE, SET, INTEGER, OID, strings, times, BIT/OCTET STRING, BOOLEAN, tags).
import { createHash, createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

const sequence = (...items: Buffer[]): Buffer => tlv(0x30, ...items);
const set = (...items: Buffer[]): Buffer => tlv(0x31, ...items);
const octetString = (data: Buffer): Buffer => tlv(0x04, data);
const bitString = (data: Buffer, unusedBits = 0): Buffer => tlv(0x03, Buffer.from([unusedBits]), data);
const booleanTrue = (): Buffer => tlv(0x01, Buffer.from([0xff]));
const utf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));
/** Context-specific constructed tag `[n]` (EXPLICIT wrapping). */
const explicit = (n: number, ...content: Buffer[]): Buffer => tlv(0xa0 | n, ...content);

function integer(value: Buffer): Buffer {
  let bytes = value;
  while (bytes.length > 1 && bytes[0] === 0 && bytes[1] < 0x80) bytes = bytes.subarray(1);
  if (bytes[0] >= 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [parts[0] * 40 + parts[1]];
  for (const part of parts.slice(2)) {
    const groups: number[] = [];
    for (let v = part; ; v = Math.floor(v / 128)) {
      groups.unshift(v % 128);
      if (v < 128) break;
    }
    out.push(...groups.map((g, i) => (i < groups.length - 1 ? g | 0x80 : g)));
  }
  return tlv(0x06, Buffer.from(out));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2), 'ascii')) : tlv(0x18, Buffer.from(iso, 'ascii'));
}

const OID = {
  ed25519: '1.3.101.112',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  emailProtection: '1.3.6.1.5.5.7.3.4',
} as const;

export interface DistinguishedName {
  readonly commonName: string;
  readonly organization?: string;
}

function name(dn: DistinguishedName): Buffer {
  const rdns = [set(sequence(oid(OID.commonName), utf8String(dn.commonName)))];
  if (dn.organization) rdns.push(set(sequence(oid(OID.organization), utf8String(dn.organization))));
  return sequence(...rdns);
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), booleanTrue(), octetString(value)) : sequence(oid(id), octetString(value));
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // For Ed25519 the SPKI is a fixed 12-byte prefix followed by the 32 key bytes.
  return createHash('sha1').update(spki.subarray(spki.length - 32)).digest();
}

export interface CertificateRequest {
  readonly subject: DistinguishedName;
  readonly issuer: DistinguishedName;
  /** The certified key (its public half is written). */
  readonly publicKey: KeyObject;
  /** The issuer's Ed25519 private key (the subject's own for a self-signed CA). */
  readonly issuerKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** A CA certificate (keyCertSign) or an end-entity signing certificate (digitalSignature, emailProtection). */
  readonly ca: boolean;
}

/** Issues an Ed25519-signed X.509 v3 certificate; returns its DER bytes. */
export function issueCertificate(request: CertificateRequest): Buffer {
  const ed25519 = sequence(oid(OID.ed25519));
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  const subjectKeyId = keyIdentifier(request.publicKey);
  const issuerKeyId = keyIdentifier(createPublicKey(request.issuerKey));
  const extensions = request.ca
    ? [
        extension(OID.basicConstraints, true, sequence(booleanTrue())),
        // keyCertSign (bit 5) and cRLSign (bit 6): 0b0000_0110, one unused bit.
        extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1)),
        extension(OID.subjectKeyIdentifier, false, octetString(subjectKeyId)),
      ]
    : [
        extension(OID.basicConstraints, true, sequence()),
        // digitalSignature (bit 0): 0b1000_0000, seven unused bits.
        extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)),
        // C2PA signing certificates need an extended key usage; emailProtection is one the spec allows.
        extension(OID.extKeyUsage, false, sequence(oid(OID.emailProtection))),
        extension(OID.subjectKeyIdentifier, false, octetString(subjectKeyId)),
        extension(OID.authorityKeyIdentifier, false, sequence(tlv(0x80, issuerKeyId))),
      ];
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    ed25519,
    name(request.issuer),
    sequence(time(request.notBefore), time(request.notAfter)),
    name(request.subject),
    request.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, sequence(...extensions)),
  );
  return sequence(tbs, ed25519, bitString(sign(null, tbs, request.issuerKey)));
}

/** PEM armour of DER bytes. */
export function toPem(der: Buffer, label: string): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
