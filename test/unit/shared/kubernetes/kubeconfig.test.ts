import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseKubeconfig, readKubeconfigFile } from '#functions/shared/kubernetes/kubeconfig.ts';

const caPem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** A kubeconfig as kubectl writes it, with the current context's user given by `user`. */
function kubeconfig(user: string, cluster = `certificate-authority-data: ${b64(caPem)}`): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: other
  cluster:
    server: https://other.example:6443
- name: prod
  cluster:
    server: https://prod.example:6443/
    ${cluster}
users:
- name: remediator
  user:
    ${user}
contexts:
- name: remediator@prod
  context:
    cluster: prod
    user: remediator
current-context: remediator@prod
`;
}

describe('reading a kubeconfig', () => {
  it("takes the current context's server, certificate authority and token", () => {
    const endpoint = parseKubeconfig(kubeconfig('token: s3cr3t'));

    expect(endpoint.server).toBe('https://prod.example:6443');
    expect(endpoint.certificateAuthority).toBe(caPem);
    expect(endpoint.token?.()).toBe('s3cr3t');
  });

  it('reads certificate files relative to the kubeconfig file, and a client certificate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
    writeFileSync(join(dir, 'ca.pem'), caPem);
    writeFileSync(join(dir, 'client.pem'), 'CERT');
    writeFileSync(join(dir, 'client.key'), 'KEY');
    writeFileSync(
      join(dir, 'config'),
      kubeconfig(
        'client-certificate: client.pem\n    client-key: client.key',
        'certificate-authority: ca.pem',
      ),
    );

    const endpoint = readKubeconfigFile(join(dir, 'config'));

    expect(endpoint).toMatchObject({
      certificateAuthority: caPem,
      clientCertificate: 'CERT',
      clientKey: 'KEY',
    });
    expect(endpoint.token).toBeUndefined();
  });

  it('takes the token of an exec plugin, as `aws eks get-token` gives it', () => {
    const credential = JSON.stringify({
      kind: 'ExecCredential',
      apiVersion: 'client.authentication.k8s.io/v1beta1',
      status: { token: 'k8s-aws-v1.abc', expirationTimestamp: '2099-01-01T00:00:00Z' },
    });
    const endpoint = parseKubeconfig(
      kubeconfig(
        `exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: ${process.execPath}\n      args: ["-e", ${JSON.stringify(`console.log(${JSON.stringify(credential)})`)}]`,
      ),
    );

    expect(endpoint.token?.()).toBe('k8s-aws-v1.abc');
  });

  it('reads JSON too, and keeps insecure-skip-tls-verify', () => {
    const endpoint = parseKubeconfig(
      JSON.stringify({
        clusters: [
          {
            name: 'c',
            cluster: { server: 'http://127.0.0.1:8080', 'insecure-skip-tls-verify': true },
          },
        ],
        users: [{ name: 'u', user: {} }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );

    expect(endpoint).toEqual({ server: 'http://127.0.0.1:8080', insecureSkipTlsVerify: true });
  });

  it.each([
    ['not YAML', '{ clusters: [', /neither YAML nor JSON/],
    [
      'no current context',
      'apiVersion: v1\nkind: Config\n',
      /no current context with a cluster and server/,
    ],
    [
      'a password user',
      kubeconfig('username: admin\n    password: secret'),
      /auth-provider or a password, which the remediator does not support/,
    ],
  ])('refuses %s and says what is wrong', (_what, content, message) => {
    expect(() => parseKubeconfig(content)).toThrow(message);
  });
});
