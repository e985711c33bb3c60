/**
 * Certificates for the TLS tests, made during the run with the `openssl` command in a temporary
 * folder (removed by `remove()`): a test CA, a server certificate for 127.0.0.1 and localhost, a
 * client certificate from the same CA, two peer certificates from the same CA usable as both (a
 * filer peer listens and dials, and shows its certificate either way), and a client certificate
 * from another CA nobody trusts. EC P-256 keys, valid for two days: quick to make, and nothing
 * outlives the run.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A private key and its certificate, PEM. */
export interface KeyPair {
  readonly key: Buffer;
  readonly cert: Buffer;
}

export interface Certificates {
  /** The test CA's certificate: what servers and clients trust. */
  readonly ca: Buffer;
  /** Signed by the CA, for IP 127.0.0.1 and DNS localhost, server use. */
  readonly server: KeyPair;
  /** Signed by the CA, client use, CN `client`. */
  readonly client: KeyPair;
  /**
   * Signed by the CA, for IP 127.0.0.1 and DNS localhost, server and client use, CN `peer`: for a
   * filer peer with mutual TLS, which shows its certificate both when accepting and when dialling.
   */
  readonly peer: KeyPair;
  /** Like `peer`, CN `peer2`: a second peer's, to tell the two apart. */
  readonly peer2: KeyPair;
  /** Signed by another CA, client use, CN `stranger`. */
  readonly stranger: KeyPair;
  /** Deletes the folder they were made in. */
  remove(): Promise<void>;
}

const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Makes the certificates; rejects when `openssl` is missing or fails. */
export async function makeCertificates(): Promise<Certificates> {
  const dir = await mkdtemp(join(tmpdir(), 'rx-tcp-hub-tls-'));
  const at = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir, timeout: 30_000 });

  const makeCa = (name: string, cn: string) =>
    openssl('req', '-x509', ...NEW_KEY, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const makeLeaf = async (name: string, cn: string, ca: string, extensions: string) => {
    await writeFile(at(`${name}.ext`), extensions);
    await openssl('req', '-new', ...NEW_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    await openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  };
  const pair = async (name: string): Promise<KeyPair> => ({ key: await readFile(at(`${name}.key`)), cert: await readFile(at(`${name}.crt`)) });

  try {
    await makeCa('ca', 'rx-tcp-hub test CA');
    await makeCa('other-ca', 'another CA');
    await makeLeaf('server', 'localhost', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    await makeLeaf('client', 'client', 'ca', 'extendedKeyUsage=clientAuth\n');
    const bothRoles = 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n';
    await makeLeaf('peer', 'peer', 'ca', bothRoles);
    await makeLeaf('peer2', 'peer2', 'ca', bothRoles);
    await makeLeaf('stranger', 'stranger', 'other-ca', 'extendedKeyUsage=clientAuth\n');
    return {
      ca: await readFile(at('ca.crt')),
      server: await pair('server'),
      client: await pair('client'),
      peer: await pair('peer'),
      peer2: await pair('peer2'),
      stranger: await pair('stranger'),
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
