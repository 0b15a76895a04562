// C2PA images imgprompt did not make: a certificate chain made by openssl (ES256 CA + leaf with
// digitalSignature and emailProtection, as a C2PA signer needs), a PNG and a JPEG signed with the
// reference library directly, and our reader's account of them. Also the user's own certificate as
// imgprompt's signing identity, and the local identity's certificate as openssl sees it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Builder, LocalSigner } from '@contentauth/c2pa-node';
import { InputError, LOCAL_IDENTITY_FILE, loadSigningIdentity, readC2pa, signPng } from '../../../src/engine/index';

const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA and a leaf signing certificate (ES256), as a C2PA tutorial makes them with openssl. */
function makeChain(dir: string): { chain: string; key: string; ca: string } {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(dir, 'req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=Foreign Test CA/O=Elsewhere', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl(dir, 'req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=Foreign Camera/O=Elsewhere');
  writeFileSync(join(dir, 'ext.cnf'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
  openssl(dir, 'x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '30', '-extfile', 'ext.cnf');
  const chain = readFileSync(join(dir, 'leaf.pem'), 'utf8') + readFileSync(join(dir, 'ca.pem'), 'utf8');
  writeFileSync(join(dir, 'chain.pem'), chain);
  return { chain, key: readFileSync(join(dir, 'leaf.key'), 'utf8'), ca: readFileSync(join(dir, 'ca.pem'), 'utf8') };
}

describe('C2PA images from elsewhere', { skip: haveOpenssl ? false : 'openssl is not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-foreign-'));
  let certs: { chain: string; key: string; ca: string };
  const foreignManifest = {
    claim_generator_info: [{ name: 'Foreign Camera App', version: '9.1' }],
    title: 'photo',
    assertions: [{ label: 'c2pa.actions.v2', data: { actions: [{ action: 'c2pa.created', digitalSourceType: 'http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture' }] } }],
  };
  const signForeign = async (format: 'png' | 'jpeg') => {
    const image = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 120, b: 30 } } })[format]().toBuffer();
    const builder = Builder.withJson({ ...foreignManifest, format: `image/${format}` }, JSON.stringify({ builder: { thumbnail: { enabled: false } } }));
    const out: { buffer: Buffer | null } = { buffer: null };
    builder.sign(LocalSigner.newSigner(Buffer.from(certs.chain), Buffer.from(certs.key), 'es256'), { buffer: image, mimeType: `image/${format}` }, out);
    return out.buffer as Buffer;
  };

  before(() => {
    certs = makeChain(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const format of ['png', 'jpeg'] as const) {
    test(`a ${format.toUpperCase()} signed by another tool reads as valid, its signer named, untrusted until its CA is an anchor`, async () => {
      const signed = await signForeign(format);
      const report = await readC2pa(signed, `image/${format}`);
      assert.equal(report.state, 'valid');
      assert.equal(report.generator, 'Foreign Camera App 9.1');
      assert.equal(report.signer?.commonName, 'Foreign Camera');
      assert.equal(report.signer?.alg, 'Es256');
      assert.match(report.summary, /issuer not on a trust list/);
      assert.ok(report.passed.includes('claimSignature.validated'));
      // Not ours: no recipe or image-data comparison is claimed.
      assert.equal(report.pixelsChanged, undefined);
      assert.equal(report.recipeChanged, undefined);
      const trusted = await readC2pa(signed, `image/${format}`, { trustAnchorsPem: certs.ca });
      assert.equal(trusted.state, 'trusted');
      assert.match(trusted.summary, /on the trust list/);
    });
  }

  test('a tampered foreign JPEG is invalid with the failing check named', async () => {
    const signed = await signForeign('jpeg');
    const tampered = Buffer.from(signed);
    tampered[tampered.length - 20] ^= 0xff;
    const report = await readC2pa(tampered, 'image/jpeg');
    assert.equal(report.state, 'invalid');
    assert.ok(report.failures.some((f) => f.code === 'assertion.dataHash.mismatch'), JSON.stringify(report.failures));
    assert.match(report.summary, /^invalid: a check failed \(assertion\.dataHash\.mismatch/);
  });

  test('an image with no manifest is absent, not an error', async () => {
    const plain = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'white' } }).png().toBuffer();
    assert.equal((await readC2pa(plain, 'image/png')).state, 'absent');
  });

  test("the user's own certificate signs imgprompt's manifests and is named as the signer", async () => {
    const identity = await loadSigningIdentity({ certificateFile: join(dir, 'chain.pem'), privateKeyFile: join(dir, 'leaf.key') });
    assert.equal(identity.local, false);
    assert.equal(identity.algorithm, 'es256');
    const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: 'white' } }).png().toBuffer();
    const signed = await signPng(png, { ...foreignManifest, claim_generator_info: [{ name: 'imgprompt', version: 'test' }], title: 'x.png', format: 'image/png' }, identity);
    const report = await readC2pa(signed, 'image/png', { trustAnchorsPem: certs.ca });
    assert.equal(report.state, 'trusted', JSON.stringify(report.failures));
    assert.equal(report.signer?.commonName, 'Foreign Camera');
  });

  test('a key that does not belong to the certificate is refused before signing', async () => {
    openssl(dir, 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key');
    await assert.rejects(loadSigningIdentity({ certificateFile: join(dir, 'chain.pem'), privateKeyFile: join(dir, 'other.key') }), (e: unknown) => e instanceof InputError && /does not belong/.test(e.message));
    await assert.rejects(loadSigningIdentity({ certificateFile: join(dir, 'chain.pem') }), /needs both/);
  });

  test('the local identity is made once, kept private, and is a chain openssl verifies', async () => {
    const configDir = join(dir, 'config');
    const first = await loadSigningIdentity({ identityDir: configDir });
    const again = await loadSigningIdentity({ identityDir: configDir });
    assert.equal(first.local, true);
    assert.equal(first.algorithm, 'ed25519');
    assert.equal(again.certificateChain, first.certificateChain, 'a second load made a new identity');
    const file = join(configDir, LOCAL_IDENTITY_FILE);
    if (process.platform !== 'win32') assert.equal((await import('node:fs')).statSync(file).mode & 0o077, 0, 'the key file is readable by others');
    const [leaf, ca] = first.certificateChain.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g) ?? [];
    writeFileSync(join(dir, 'local-ca.pem'), ca ?? '');
    writeFileSync(join(dir, 'local-leaf.pem'), leaf ?? '');
    openssl(dir, 'verify', '-CAfile', 'local-ca.pem', '-purpose', 'smimesign', 'local-leaf.pem');
    const text = execFileSync('openssl', ['x509', '-in', 'local-leaf.pem', '-noout', '-text'], { cwd: dir, encoding: 'utf8' });
    assert.match(text, /Key Usage: critical\s+Digital Signature/);
    assert.match(text, /Extended Key Usage:\s+E-mail Protection/);
    assert.match(text, /CA:FALSE/);
  });
});
