/**
 * The real AWS cloud-controller-manager (k8s.io/cloud-provider-aws, built in
 * aws-cloud-controller/), running only its cloud node lifecycle controller, as EKS does: a Node
 * whose Ready condition is not True is deleted once EC2 says its instance is terminated (or
 * knows it no more), and tainted `node.cloudprovider.kubernetes.io/shutdown` while it is
 * stopped. It reaches EC2 through the layer that gives moto EC2's behaviour (its cloud config's
 * ServiceOverride).
 *
 * Many self-managed clusters run no such controller, and the test clusters share one
 * apiserver, so the choice is made per test cluster: an admission policy rejects the
 * controller's writes to the Nodes labelled `ebs-volume-remediator.test/cloud-node-lifecycle=false`,
 * which are then left as if it did not run (it logs the denials and tries again each period).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GoProgram } from './go-build.ts';
import { applyObjects } from './kube-manifests.ts';
import { repoRoot } from './paths.ts';

/** The release the control plane runs (aws-cloud-controller/go.mod). */
export const awsCloudControllerVersion = 'v1.35.3';

export const awsCloudControllerProgram: GoProgram = {
  name: 'aws-cloud-controller',
  sourceDir: join(repoRoot, 'test', 'support', 'aws-cloud-controller'),
  binaries: {
    'aws-cloud-controller-manager': 'k8s.io/cloud-provider-aws/cmd/aws-cloud-controller-manager',
  },
  coldBuild: 'about 4 minutes',
};

/** Nodes with this label set to "false" belong to a cluster without a cloud node lifecycle. */
export const cloudNodeLifecycleLabel = 'ebs-volume-remediator.test/cloud-node-lifecycle';

/** The user name of the controller's identity (test/support/control-plane/main.go). */
const controllerUser = 'cloud-controller-manager';

/** Keeps the controller away from the Nodes of clusters that have no cloud node lifecycle. */
export async function applyCloudNodeLifecycleSwitch(adminKubeconfig: string): Promise<void> {
  const name = 'test-clusters-without-cloud-node-lifecycle';
  await applyObjects(adminKubeconfig, [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: [''],
              apiVersions: ['v1'],
              operations: ['UPDATE', 'DELETE'],
              resources: ['nodes'],
            },
          ],
        },
        matchConditions: [
          {
            name: 'the-cloud-controller-manager',
            expression: `request.userInfo.username == '${controllerUser}'`,
          },
        ],
        validations: [
          {
            expression:
              `!has(oldObject.metadata.labels) || ` +
              `!('${cloudNodeLifecycleLabel}' in oldObject.metadata.labels) || ` +
              `oldObject.metadata.labels['${cloudNodeLifecycleLabel}'] != 'false'`,
            message: 'this test cluster runs no cloud node lifecycle',
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name },
      spec: { policyName: name, validationActions: ['Deny'] },
    },
  ]);
}

/**
 * The controller's arguments and its cloud config (written into `dir`): Region and zone from
 * the config, not from instance metadata; a VPC and subnet of its own, so it needs no instance
 * of its own to describe; EC2 at `ec2Endpoint`.
 */
export function awsCloudControllerArgs(options: {
  readonly kubeconfig: string;
  readonly ec2Endpoint: string;
  readonly region: string;
  readonly dir: string;
}): string[] {
  const cloudConfig = join(options.dir, 'cloud-config');
  writeFileSync(
    cloudConfig,
    [
      '[Global]',
      `Zone = ${options.region}a`,
      'VPC = vpc-0000000000000000a',
      'SubnetID = subnet-0000000000000000a',
      'KubernetesClusterTag = ebs-volume-remediator-tests',
      'DisableSecurityGroupIngress = true',
      '',
      '[ServiceOverride "ec2"]',
      'Service = EC2',
      `Region = ${options.region}`,
      `URL = ${options.ec2Endpoint}`,
      `SigningRegion = ${options.region}`,
      'SigningName = ec2',
      '',
    ].join('\n'),
  );
  return [
    '--cloud-provider=aws',
    `--cloud-config=${cloudConfig}`,
    `--kubeconfig=${options.kubeconfig}`,
    `--authentication-kubeconfig=${options.kubeconfig}`,
    `--authorization-kubeconfig=${options.kubeconfig}`,
    '--controllers=cloud-node-lifecycle',
    '--leader-elect=false',
    '--use-service-account-credentials=false',
    '--configure-cloud-routes=false',
    '--secure-port=0',
    '--v=2',
  ];
}
