// Who signs the C2PA manifest. The user's own certificate chain and private key when configured (a
// certificate from a CA on the C2PA trust list makes the figure "trusted" everywhere); otherwise a local
// identity created on first use: a private CA and a leaf Ed25519 key it certifies, stored in one file in
// the user's configuration folder. Readers report such a figure as signed but its issuer not on a trust
// list, which is the truth. Ed25519 because its signatures are deterministic (RFC 8032).
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { InputError } from '../errors';
import { writeFileAtomic } from '../output/writeFileAtomic';
import { issueCertificate, toPem } from './x509Certificate';

export interface SigningIdentity {
  /** PEM: the signing certificate first, then the chain up to (and optionally including) the root. */
  readonly certificateChain: string;
  /** PEM private key of the signing certificate. */
  readonly privateKey: string;
  /** The C2PA signing algorithm name (`ed25519`, `es256`, …). */
  readonly algorithm: string;
  /** True for the identity imgprompt created; its issuer is on no trust list. */
  readonly local: boolean;
  /** The signing certificate's subject, for messages. */
  readonly subject: string;
  /** Where it came from (a file path). */
  readonly source: string;
}

export interface SigningIdentityOptions {
  /** The user's certificate chain (PEM file); with `privateKeyFile`, replaces the local identity. */
  readonly certificateFile?: string;
  readonly privateKeyFile?: string;
  /** The user's certificate chain and key as PEM text (e.g. from the editor's secret storage). */
  readonly certificatePem?: string;
  readonly privateKeyPem?: string;
  /** Folder of the local identity (default: the configuration folder, see defaultIdentityDir). */
  readonly identityDir?: string;
}

/** The largest certificate or key file read. */
const MAX_PEM_BYTES = 256 * 1024;
export const LOCAL_IDENTITY_FILE = 'c2pa-local-signer.pem';

/** `$IMGPROMPT_CONFIG_DIR`, else `$XDG_CONFIG_HOME/imgprompt`, else `~/.config/imgprompt` (`%APPDATA%\imgprompt` on Windows). */
export function defaultIdentityDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.IMGPROMPT_CONFIG_DIR) return env.IMGPROMPT_CONFIG_DIR;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, 'imgprompt');
  if (process.platform === 'win32' && env.APPDATA) return join(env.APPDATA, 'imgprompt');
  return join(homedir(), '.config', 'imgprompt');
}

async function readPem(path: string, what: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new InputError(`cannot read the C2PA ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, path);
  }
  if (bytes.length > MAX_PEM_BYTES) throw new InputError(`the C2PA ${what} ${path} is ${bytes.length} bytes, over the ${MAX_PEM_BYTES} allowed`, path);
  return bytes.toString('utf8');
}

function certificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** The C2PA algorithm name for a private key (EC curves by size, RSA as PSS, Ed25519). */
function algorithmOf(privateKeyPem: string, source: string): string {
  const key = createPrivateKey(privateKeyPem);
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return 'ed25519';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const alg = { prime256v1: 'es256', secp384r1: 'es384', secp521r1: 'es512' }[curve ?? ''];
      if (alg) return alg;
      throw new InputError(`the C2PA private key ${source} uses the curve ${curve}; C2PA allows P-256, P-384 and P-521`, source);
    }
    case 'rsa-pss':
    case 'rsa':
      return 'ps256';
    default:
      throw new InputError(`the C2PA private key ${source} is ${key.asymmetricKeyType}; C2PA signs with EC (P-256/384/521), RSA-PSS or Ed25519`, source);
  }
}

function identityFromPem(certificateChain: string, privateKey: string, source: string, local: boolean): SigningIdentity {
  const chain = certificates(certificateChain);
  if (chain.length === 0) throw new InputError(`${source} holds no PEM certificate`, source);
  const algorithm = algorithmOf(privateKey, source);
  if (!chain[0].checkPrivateKey(createPrivateKey(privateKey))) {
    throw new InputError(`the C2PA private key does not belong to the first certificate in ${source}`, source);
  }
  return { certificateChain, privateKey, algorithm, local, subject: chain[0].subject.replace(/\n/g, ', '), source };
}

/** Creates the local identity: a private CA (its key discarded once it has certified the leaf) and a leaf. */
function createLocalIdentity(): { pem: string } {
  const who = (() => {
    try {
      return userInfo().username;
    } catch {
      return 'user';
    }
  })();
  const ca = generateKeyPairSync('ed25519');
  const leaf = generateKeyPairSync('ed25519');
  const issuer = { commonName: 'imgprompt local CA', organization: 'imgprompt (local, on no trust list)' };
  const notBefore = new Date(Date.now() - 24 * 3600 * 1000);
  const notAfter = new Date(notBefore.getTime() + 20 * 365 * 24 * 3600 * 1000);
  const caDer = issueCertificate({ subject: issuer, issuer, publicKey: ca.publicKey, issuerKey: ca.privateKey, notBefore, notAfter, ca: true });
  const leafDer = issueCertificate({
    subject: { commonName: `imgprompt local signer (${who})`, organization: 'imgprompt (local, on no trust list)' },
    issuer,
    publicKey: leaf.publicKey,
    issuerKey: ca.privateKey,
    notBefore,
    notAfter,
    ca: false,
  });
  const key = leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { pem: key + toPem(leafDer, 'CERTIFICATE') + toPem(caDer, 'CERTIFICATE') };
}

/**
 * The identity to sign with: the configured certificate and key, else the local identity (created on
 * first use; a concurrent first use by another process is harmless: each file is written whole and the
 * last rename wins, and both read back the one that won).
 */
export async function loadSigningIdentity(options: SigningIdentityOptions = {}): Promise<SigningIdentity> {
  if (options.certificatePem && options.privateKeyPem) return identityFromPem(options.certificatePem, options.privateKeyPem, 'the configured certificate', false);
  if (options.certificateFile || options.privateKeyFile) {
    if (!options.certificateFile || !options.privateKeyFile) throw new InputError('a C2PA signing certificate needs both a certificate file and a private key file');
    const chain = await readPem(options.certificateFile, 'certificate');
    const key = await readPem(options.privateKeyFile, 'private key');
    return identityFromPem(chain, key, options.certificateFile, false);
  }
  const path = join(options.identityDir ?? defaultIdentityDir(), LOCAL_IDENTITY_FILE);
  let pem: string;
  try {
    pem = await readPem(path, 'local identity');
  } catch (error) {
    if (!(error instanceof InputError) || !/ENOENT/.test(error.message)) throw error;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFileAtomic(path, createLocalIdentity().pem, { mode: 0o600, label: 'the local C2PA signing identity' });
    pem = await readPem(path, 'local identity');
  }
  const key = pem.match(/-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----/)?.[0];
  if (!key) throw new InputError(`${path} holds no private key; delete it to have a new local identity made`, path);
  return identityFromPem(pem.replace(key, '').trim() + '\n', key + '\n', path, true);
}
