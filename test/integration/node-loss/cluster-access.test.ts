import { readFileSync } from 'node:fs';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, describe, expect, it } from 'vitest';
import { awsClientConfig, endpoints, kubeconfigPath } from '#support/environment.ts';
import { TestCluster } from '#support/fixtures.ts';
import { ec2StateChangeEvent, nodeLossFunction } from '#support/functions-under-test.ts';

describe('cluster access through a kubeconfig in Secrets Manager', () => {
  const cluster = TestCluster.create('secret-access', endpoints());
  afterAll(() => cluster.dispose());

  it('remediates with the kubeconfig read from KUBECONFIG_SECRET_ARN', async () => {
    const secrets = new SecretsManagerClient(awsClientConfig());
    const { ARN } = await secrets.send(
      new CreateSecretCommand({
        Name: `${cluster.name}-kubeconfig`,
        SecretString: readFileSync(kubeconfigPath('remediator'), 'utf8'),
      }),
    );
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node);
    await cluster.terminateInstance(node);

    const result = await nodeLossFunction(cluster, {
      KUBECONFIG: '',
      KUBECONFIG_SECRET_ARN: ARN ?? '',
    }).invoke(ec2StateChangeEvent(node.instanceId, 'terminated'));

    expect(result).toMatchObject({ status: 'done', instances: [{ outcome: 'remediated' }] });
    expect(await cluster.volumeAttachmentNames()).not.toContain(volume.volumeAttachmentName);
  });

  it('says which secret it could not read', async () => {
    const missing =
      'arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-kubeconfig-AbCdEf';
    const node = await cluster.addNode();
    await cluster.terminateInstance(node);

    const invoke = nodeLossFunction(cluster, {
      KUBECONFIG: '',
      KUBECONFIG_SECRET_ARN: missing,
    }).invoke(ec2StateChangeEvent(node.instanceId, 'terminated'));

    await expect(invoke).rejects.toThrow(`reading the kubeconfig from secret ${missing}`);
  });
});
