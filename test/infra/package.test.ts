// The package as a CDK user gets it: `npm pack`, installed offline from the tarball into a new
// CDK app in a scratch folder, then used the way the README says: imported by name,
// type-checked, synthesized. Also the CLI from the same install. Of this repository, only the
// tarball and the consumer's own aws-cdk-lib and constructs are on the scratch app's path. Then
// the Python package jsii-pacmak builds from it, in a new Python CDK app with aws-cdk-lib from
// PyPI, held to the same essentials.
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settingEnv } from '#functions/shared/contract/settings.ts';
import { repoRoot } from '#support/paths.ts';
import { run } from '#support/processes.ts';

const ours = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  devDependencies: Record<string, string>;
};
const npm = (args: string[], cwd: string) =>
  run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd });

/**
 * The aws-cdk-lib versions the package is proven on, besides the one this repository builds
 * with: the lowest its peer range admits, set by what the construct uses (`Validations.of(...).acknowledge`,
 * with which it acknowledges its accepted cdk-nag findings, came in 2.252.0 and took the ids of
 * findings on an ARN, `AwsSolutions-IAM4[Policy::arn:...]`, from 2.269.0; Runtime.NODEJS_24_X, the
 * functions' runtime, in 2.224.0), and the newest published when this was written. Pinned, so a
 * run means the same thing tomorrow; CHANGELOG names them.
 */
const lowestCdk = '2.269.0';
const newestCdk = '2.278.0';

/** The aws-cdk-lib of the Python consumer: the newest on PyPI (which lags npm) when this was written. */
const pythonCdk = '2.275.0';

/** The consumer's whole CDK app, as in the README's example. */
const consumerApp = `
import { App, Stack, aws_events as events } from 'aws-cdk-lib';
import { EbsVolumeRemediator, type EbsVolumeRemediatorProps, OnStopped } from '${ours.name}';
import {
  type RemediationResultDetail,
  resultDetailType,
  resultEventSource,
} from '${ours.name}/contract';

const app = new App({ outdir: 'cdk.out' });
const stack = new Stack(app, 'Cluster', { env: { account: '123456789012', region: 'eu-west-1' } });
const bus = new events.EventBus(stack, 'Results');
const props: EbsVolumeRemediatorProps = {
  clusterName: 'prod',
  resultEventBus: bus,
  alarmEmail: 'oncall@example.com',
  onStoppedHibernationCapable: OnStopped.REMEDIATE,
};
new EbsVolumeRemediator(stack, 'Remediator', props);
new events.Rule(stack, 'FailedRemediations', {
  eventBus: bus,
  eventPattern: { source: [resultEventSource], detailType: [resultDetailType], detail: { outcome: ['failed'] } },
});
// The result event detail is a public type: a consumer's handler can be written against it.
const outcome = (detail: RemediationResultDetail): string => detail.outcome;
void outcome;
app.synth();
`;

/** The packed tarball, made once for every consumer app. */
const packed = mkdtempSync(join(tmpdir(), 'ebs-volume-remediator-pack-'));
let tarball = '';
const apps: string[] = [];

beforeAll(async () => {
  // prepack builds the bundles and lib/ first, as for `npm publish`.
  await npm(['pack', '--pack-destination', packed], repoRoot);
  const filename = readdirSync(packed).find((f) => f.endsWith('.tgz'));
  if (!filename) throw new Error(`npm pack wrote no tarball into ${packed}`);
  tarball = join(packed, filename);
}, 600_000);

afterAll(() => {
  for (const dir of [packed, ...apps]) rmSync(dir, { recursive: true, force: true });
});

/**
 * A new CDK app in a scratch folder with the package installed from the tarball, beside
 * aws-cdk-lib `cdk`: `repository` links the version this repository tests with (offline: npm
 * cannot resolve it without registry metadata \`npm ci\` does not cache); a version number
 * installs that one from the registry, as a consumer's app pins it.
 */
async function consumer(cdk: 'repository' | string): Promise<string> {
  const app = mkdtempSync(join(tmpdir(), 'ebs-volume-remediator-consumer-'));
  apps.push(app);
  writeFileSync(join(app, 'app.ts'), consumerApp);
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022', 'ESNext.Disposable'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        types: [],
      },
      files: ['app.ts'],
    }),
  );
  const version = cdk === 'repository' ? ours.devDependencies['aws-cdk-lib'] : cdk;
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'consumer',
      private: true,
      type: 'module',
      dependencies: { 'aws-cdk-lib': version, constructs: ours.devDependencies.constructs },
    }),
  );
  if (cdk === 'repository') {
    mkdirSync(join(app, 'node_modules'));
    for (const name of ['aws-cdk-lib', 'constructs']) {
      symlinkSync(join(repoRoot, 'node_modules', name), join(app, 'node_modules', name), 'dir');
    }
    await npm(['install', '--offline', '--legacy-peer-deps', '--no-save', tarball], app);
  } else {
    // As a consumer installs it: the peers resolved against the app's own versions.
    await npm(['install'], app);
    await npm(['install', '--no-save', tarball], app);
  }
  return app;
}

/** What a consumer's app gets: it type-checks, and synthesizes the essentials. */
async function typeChecks(app: string): Promise<void> {
  await run(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', app], {
    cwd: app,
  });
}

async function synthesizesTheEssentials(app: string): Promise<void> {
  await run(process.execPath, ['app.ts'], { cwd: app });
  expectTheEssentials(join(app, 'cdk.out'), join(app, 'node_modules', ours.name, 'dist'));
}

/**
 * What any consumer's synthesized app must hold, whatever its language: each function's code is
 * the packaged bundle (in `bundles`), byte for byte; the rules, the consumer's own on the result
 * events too; the IAM scope; the choice the consumer made
 * (`onStoppedHibernationCapable: OnStopped.REMEDIATE`) in the functions' settings.
 */
function expectTheEssentials(cdkOut: string, bundles: string): void {
  const template = JSON.parse(readFileSync(join(cdkOut, 'Cluster.template.json'), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  };
  const resources = Object.values(template.Resources);
  const ofType = (type: string) => resources.filter((r) => r.Type === type);

  const assets = JSON.parse(readFileSync(join(cdkOut, 'Cluster.assets.json'), 'utf8'))
    .files as Record<string, { source: { path: string } }>;
  const bundleHashes = ['node-loss', 'sweep'].map((name) =>
    sha256(join(bundles, name, 'index.mjs')),
  );
  const functions = ofType('AWS::Lambda::Function');
  const deployedHashes = functions
    .map((f) => (f.Properties.Code as { S3Key?: string }).S3Key?.replace(/\.zip$/, ''))
    .flatMap((hash) => {
      const asset = hash ? assets[hash] : undefined;
      return asset ? [sha256(join(cdkOut, asset.source.path, 'index.mjs'))] : [];
    });
  expect(deployedHashes).toEqual(expect.arrayContaining(bundleHashes));
  expect(functions.map((f) => f.Properties.Runtime)).toContain('nodejs24.x');
  const settings = functions.map(
    (f) => (f.Properties.Environment as { Variables: Record<string, string> }).Variables,
  );
  expect(settings.map((v) => v[settingEnv.onStoppedHibernationCapable])).toContain('remediate');

  const patterns = ofType('AWS::Events::Rule').map((r) => JSON.stringify(r.Properties));
  expect(patterns.some((p) => p.includes('EC2 Instance State-change Notification'))).toBe(true);
  // The consumer's own rule on the result events, written with the package's names for them.
  expect(
    patterns.some(
      (p) =>
        p.includes('"source":["ebs-volume-remediator"]') &&
        p.includes('"detail-type":["EBS Volume Remediation Result"]'),
    ),
  ).toBe(true);
  expect(patterns.some((p) => p.includes('EC2 Instance Terminate Successful'))).toBe(true);
  const policies = JSON.stringify(ofType('AWS::IAM::Policy'));
  expect(policies).toContain('ec2:DetachVolume');
  expect(policies).toContain('aws:ResourceTag/kubernetes.io/cluster/prod');
}

describe('the npm package in a new CDK app', { timeout: 300_000 }, () => {
  let app = '';
  beforeAll(async () => {
    app = await consumer('repository');
  }, 600_000);

  it('carries the construct, its types, its jsii assembly and the four bundles, and no tests, benchmarks or sources', () => {
    const installed = join(app, 'node_modules', ours.name);
    const files = (dir: string): string[] =>
      readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.parentPath, entry.name).slice(installed.length + 1));
    const all = files(installed);

    expect(all).toEqual(
      expect.arrayContaining([
        'lib/infra/index.js',
        'lib/infra/index.d.ts',
        'lib/infra/contract.js',
        'lib/infra/contract.d.ts',
        'lib/package.json',
        '.jsii',
        'API.md',
        'dist/node-loss/index.mjs',
        'dist/sweep/index.mjs',
        'dist/lifecycle/index.mjs',
        'dist/fence/index.mjs',
        'dist/cli/main.mjs',
        'infra/kubernetes/rbac.yaml',
        'CHANGELOG.md',
      ]),
    );
    expect(all.filter((f) => /^(test|bench|scripts|cli|functions|events)\//.test(f))).toEqual([]);
    expect(all.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(all.filter((f) => f.endsWith('.map'))).toEqual([]);
    // The functions' runtime libraries are inside the bundles, not installed beside them.
    expect(readdirSync(join(app, 'node_modules'))).not.toContain('@kubernetes');
  });

  it("ships an API.md that is jsii-docgen's reading of the assembly packed (npm run docs)", async () => {
    const fresh = join(packed, 'API.md');
    await run(join(repoRoot, 'node_modules', '.bin', 'jsii-docgen'), ['--output', fresh], {
      cwd: repoRoot,
    });

    expect(readFileSync(join(app, 'node_modules', ours.name, 'API.md'), 'utf8')).toBe(
      readFileSync(fresh, 'utf8'),
    );
  });

  it("type-checks a consumer's app against the published declarations", async () => {
    await typeChecks(app);
  });

  it('synthesizes with the packaged bundles, the rules and the least-privilege policy', async () => {
    await synthesizesTheEssentials(app);
  });

  it('runs the command line from the same install', async () => {
    const help = await run(join(app, 'node_modules', '.bin', 'ebs-volume-remediator'), ['--help'], {
      cwd: app,
    });

    expect(help).toContain('Usage: ebs-volume-remediator <command> [options]');
  });
});

describe.each([
  { which: 'the lowest aws-cdk-lib its peer range admits', version: lowestCdk },
  { which: 'the newest aws-cdk-lib', version: newestCdk },
])('the npm package with $which ($version)', { timeout: 300_000 }, ({ version }) => {
  let app = '';
  beforeAll(async () => {
    app = await consumer(version);
  }, 600_000);

  it('is what the peer range says', () => {
    const peer = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).peerDependencies[
      'aws-cdk-lib'
    ] as string;
    expect(peer).toBe(`^${lowestCdk}`);
    const used = JSON.parse(
      readFileSync(join(app, 'node_modules', 'aws-cdk-lib', 'package.json'), 'utf8'),
    ).version;
    expect(used).toBe(version);
  });

  it("type-checks a consumer's app and synthesizes the essentials", async () => {
    await typeChecks(app);
    await synthesizesTheEssentials(app);
  });
});

describe('the Python package in a new Python CDK app', { timeout: 600_000 }, () => {
  let app = '';
  beforeAll(async () => {
    app = mkdtempSync(join(tmpdir(), 'ebs-volume-remediator-python-'));
    apps.push(app);
    // jsii-pacmak packs the package (prepack: the bundles and the jsii build), then builds the
    // Python wheel, which carries that tarball for jsii's runtime to load.
    await run(
      join(repoRoot, 'node_modules', '.bin', 'jsii-pacmak'),
      ['--targets', 'python', '--no-npmignore', '--outdir', join(app, 'packages')],
      { cwd: repoRoot },
    );
    const wheels = join(app, 'packages', 'python');
    const wheel = readdirSync(wheels).find((f) => f.endsWith('.whl'));
    if (!wheel) throw new Error(`jsii-pacmak wrote no wheel into ${wheels}`);
    await python(['-m', 'venv', join(app, 'venv')], app);
    await run(
      join(app, 'venv', 'bin', 'pip'),
      ['install', '--quiet', join(wheels, wheel), `aws-cdk-lib==${pythonCdk}`],
      { cwd: app },
    );
    writeFileSync(join(app, 'app.py'), pythonConsumerApp);
  }, 900_000);

  it('synthesizes with the packaged bundles, the rules and the least-privilege policy', async () => {
    // jsii's runtime runs the construct in the Node.js found first on PATH: this one.
    const path = `${join(process.execPath, '..')}:${process.env.PATH ?? ''}`;
    await run(join(app, 'venv', 'bin', 'python'), ['app.py'], {
      cwd: app,
      env: { ...process.env, PATH: path },
    });

    expectTheEssentials(join(app, 'cdk.out'), join(repoRoot, 'dist'));
  });
});

/** The Python consumer's whole CDK app: the TypeScript one's, as a Python user writes it. */
const pythonConsumerApp = `
import aws_cdk as cdk
from aws_cdk import aws_events as events
from ebs_volume_remediator import EbsVolumeRemediator, OnStopped, ResultEvents

app = cdk.App(outdir="cdk.out")
stack = cdk.Stack(app, "Cluster", env=cdk.Environment(account="123456789012", region="eu-west-1"))
bus = events.EventBus(stack, "Results")
EbsVolumeRemediator(
    stack,
    "Remediator",
    cluster_name="prod",
    result_event_bus=bus,
    alarm_email="oncall@example.com",
    on_stopped_hibernation_capable=OnStopped.REMEDIATE,
)
events.Rule(
    stack,
    "FailedRemediations",
    event_bus=bus,
    event_pattern=events.EventPattern(
        source=[ResultEvents.SOURCE],
        detail_type=[ResultEvents.REMEDIATION_DETAIL_TYPE],
        detail={"outcome": ["failed"]},
    ),
)
app.synth()
`;

/** Runs the machine's Python 3, failing with what to install when there is none. */
async function python(args: string[], cwd: string): Promise<string> {
  try {
    return await run('python3', args, { cwd });
  } catch (error) {
    throw new Error(
      'the Python consumer test needs python3 with venv (Python 3.9+); install it and run the tests again',
      { cause: error },
    );
  }
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
