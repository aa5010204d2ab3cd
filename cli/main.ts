/**
 * The command line: the same sweep and remediation the Lambda functions run, from an
 * operator's machine, with the usual AWS credential chain.
 *
 *   npx ebs-volume-remediator sweep --cluster-name prod --eks-cluster prod --dry-run
 *   npx ebs-volume-remediator remediate --cluster-name prod --kubeconfig ~/.kube/config --instance-id i-0123...
 *   npx ebs-volume-remediator fence-check --cluster-name prod --eks-cluster prod --dry-run
 */
import { parseArgs } from 'node:util';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type * as z from 'zod/mini';
import {
  type Config,
  fenceActionChoice,
  fenceAfterSetting,
  fenceWindowSetting,
  maxActionsSetting,
  maxDeadNodePercentSetting,
  onStoppedChoice,
  recoveryWatchSetting,
  withDefaults,
} from '../functions/shared/config.ts';
import { metricsNamespace, serviceName } from '../functions/shared/contract/metric-names.ts';
import {
  fenceActionChoices,
  onStoppedChoices,
  settingDefaults,
} from '../functions/shared/contract/settings.ts';
import { parseFenceInput, parseSweepInput } from '../functions/shared/events/registry.ts';
import { handleInput, type InvocationResult } from '../functions/shared/handle-input.ts';
import { createRuntime } from '../functions/shared/lambda/runtime.ts';
import type { ActionRecord } from '../functions/shared/remediation/execute.ts';
import { ConfigurationError, messageOf } from '../functions/shared/util/errors.ts';
import { renderResult, renderStatus } from './render.ts';

export const usage = `Usage: ebs-volume-remediator <command> [options]

Frees EBS volumes still held by dead Kubernetes nodes: detaches them in EC2 and deletes the
stale VolumeAttachments. Never touches a running instance or a volume it cannot tie to the
cluster.

Commands:
  sweep                      find every VolumeAttachment of a dead node in the cluster and free it
  remediate                  free the volumes of the instances given with --instance-id
  fence-check                fence hung nodes (NotReady, Lease stale, EC2 says running): stop
                             their instances, then recover them as stopped nodes. The command
                             is the opt-in; try it with --dry-run first
  status                     what dead instances of the cluster still hold (taint to add, pods,
                             VolumeAttachments, volumes in EC2) and the pods stuck behind them;
                             changes nothing (a sweep's dry-run)

Options:
  --cluster-name NAME        the cluster to look after (required)
  --kubeconfig PATH          reach the cluster with this kubeconfig (default: $KUBECONFIG)
  --eks-cluster NAME         reach an EKS cluster with your AWS credentials instead
  --instance-id ID           an instance to remediate (repeat for more); remediate only
  --region REGION            AWS Region (default: the SDK's, from AWS_REGION or your profile)
  --dry-run                  report what would be done, do nothing
  --on-stopped MODE          ${onStoppedChoices.join(' or ')} stopped instances (default ${settingDefaults.onStopped})
  --no-taint                 do not taint the Nodes of stopped instances out-of-service
  --max-actions N            refuse to take more than N destructive actions (default ${settingDefaults.maxActionsPerInvocation})
  --max-dead-node-percent P  refuse when more than P% of the Nodes look dead (default ${settingDefaults.maxDeadNodePercent})
  --node-selector SELECTOR   sweep (or fence-check) only the Nodes matching this label selector
  --recovery-watch SECONDS   follow evicted pods to their replacement Running this long, 0: not at all (default ${settingDefaults.recoveryWatchSeconds})
  --fence-after SECONDS      fence-check: a Node's Lease stale this long (default ${settingDefaults.fenceAfterSeconds})
  --fence-action ACTION      fence-check: ${fenceActionChoices.join(' or ')} the instance (default ${settingDefaults.fenceAction})
  --max-fences N             fence-check: at most N fences per window (default ${settingDefaults.maxFences})
  --fence-window SECONDS     fence-check: the rate limit's window (default ${settingDefaults.fenceWindowSeconds})
  --output FORMAT            table (default) or json
  -h, --help                 show this help

Exit status: 0 done, 1 an action failed or the cluster could not be reached, 2 bad usage.
`;

/** A mistake in how the command was called: exit status 2, with a pointer to --help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

interface Io {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
}

function parse(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        'cluster-name': { type: 'string' },
        kubeconfig: { type: 'string' },
        'eks-cluster': { type: 'string' },
        'instance-id': { type: 'string', multiple: true },
        region: { type: 'string' },
        'dry-run': { type: 'boolean' },
        'on-stopped': { type: 'string' },
        'no-taint': { type: 'boolean' },
        'max-actions': { type: 'string' },
        'max-dead-node-percent': { type: 'string' },
        'node-selector': { type: 'string' },
        'fence-after': { type: 'string' },
        'fence-action': { type: 'string' },
        'max-fences': { type: 'string' },
        'fence-window': { type: 'string' },
        'recovery-watch': { type: 'string' },
        output: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(messageOf(error));
  }
}

type Flags = ReturnType<typeof parse>['values'];

const commands = ['sweep', 'remediate', 'fence-check', 'status'] as const;
type Command = (typeof commands)[number];

function isCommand(name: string | undefined): name is Command {
  return commands.some((command) => command === name);
}

/** The command and its instances, or a UsageError saying what is missing. */
function commandOf(positionals: readonly string[], values: Flags) {
  const command = positionals[0];
  const named = commands.join(', ');
  if (positionals.length !== 1 || !isCommand(command)) {
    throw new UsageError(
      positionals.length === 0
        ? `give a command: ${named}`
        : `unknown command "${positionals.join(' ')}": use ${named}`,
    );
  }
  const instanceIds = values['instance-id'] ?? [];
  if (command === 'remediate' && instanceIds.length === 0) {
    throw new UsageError('remediate needs at least one --instance-id');
  }
  if (command !== 'remediate' && instanceIds.length > 0) {
    throw new UsageError(`--instance-id is for remediate; ${command} looks at the whole cluster`);
  }
  return { command, instanceIds } as const;
}

/** What the command asks the shared input handling for, and how that input is read. */
function inputOf(command: Command, instanceIds: readonly string[]) {
  switch (command) {
    case 'sweep':
      return { input: { action: 'sweep' }, parse: parseSweepInput };
    case 'remediate':
      return { input: { action: 'remediate', instanceIds }, parse: parseSweepInput };
    case 'fence-check':
      return { input: { action: 'fence-check' }, parse: parseFenceInput };
    case 'status':
      return { input: { action: 'sweep', dryRun: true }, parse: parseSweepInput };
  }
}

/** A flag's value checked as its setting is (the same schema), or undefined when not given. */
function checked<T>(
  flag: string,
  value: string | undefined,
  schema: z.ZodMiniType<T>,
): T | undefined {
  if (value === undefined) return undefined;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new UsageError(`${flag} ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** The configuration the flags give, typed; every other setting takes its default. */
function configFromFlags(values: Flags, env: NodeJS.ProcessEnv, command: Command): Config {
  const clusterName = values['cluster-name']?.trim();
  if (!clusterName) throw new UsageError('--cluster-name is required');
  const eksClusterName = values['eks-cluster'];
  const kubeconfig = values.kubeconfig ?? env.KUBECONFIG;
  if (!eksClusterName && !kubeconfig) {
    throw new UsageError('give --kubeconfig (or set KUBECONFIG) or --eks-cluster');
  }
  return withDefaults({
    clusterName,
    clusterAccess: eksClusterName
      ? { kind: 'eks', eksClusterName }
      : { kind: 'kubeconfig-file', path: kubeconfig ?? '' },
    // status only looks.
    dryRun: values['dry-run'] || command === 'status',
    onStopped: checked('--on-stopped', values['on-stopped'], onStoppedChoice),
    outOfServiceTaint: !values['no-taint'],
    maxActionsPerInvocation: checked('--max-actions', values['max-actions'], maxActionsSetting),
    maxDeadNodePercent: checked(
      '--max-dead-node-percent',
      values['max-dead-node-percent'],
      maxDeadNodePercentSetting,
    ),
    nodeSelector: values['node-selector'],
    fenceHungNodes: command === 'fence-check',
    fenceAfterMs: checked('--fence-after', values['fence-after'], fenceAfterSetting),
    fenceAction: checked('--fence-action', values['fence-action'], fenceActionChoice),
    maxFences: checked('--max-fences', values['max-fences'], maxActionsSetting),
    fenceWindowMs: checked('--fence-window', values['fence-window'], fenceWindowSetting),
    recoveryWatchMs: checked('--recovery-watch', values['recovery-watch'], recoveryWatchSetting),
  });
}

/** One line per action as it finishes, on a terminal. */
function progressOn(stderr: Io['stderr']) {
  return (record: ActionRecord) => {
    const target = record.volumeAttachment ?? record.volumeId ?? record.node ?? '';
    const mark = record.outcome === 'failed' ? '✗' : record.outcome === 'planned' ? '·' : '✓';
    stderr.write(
      `  ${mark} ${record.action} ${target} ${record.outcome} (${record.durationMs} ms)\n`,
    );
  };
}

/** Runs the command the flags name; resolves with the exit status. Throws on bad usage. */
async function run(values: Flags, positionals: readonly string[], io: Io): Promise<number> {
  const { command, instanceIds } = commandOf(positionals, values);
  const output = values.output ?? 'table';
  if (output !== 'table' && output !== 'json') {
    throw new UsageError(`--output must be table or json, not "${output}"`);
  }
  const config = configFromFlags(values, io.env, command);
  if (values.region) process.env.AWS_REGION = values.region;

  const showProgress = output === 'table' && io.stderr.isTTY === true;
  if (showProgress) io.stderr.write(`${command} of cluster ${config.clusterName}...\n`);

  // The CLI prints its own report: no JSON log lines, no metrics.
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const silent = () => undefined;
  const { input, parse: parseInput } = inputOf(command, instanceIds);
  const result: InvocationResult = await handleInput(
    input,
    parseInput,
    {
      config,
      ...createRuntime(config),
      // Kubernetes Events say a person ran the command line, not the functions.
      reportingInstance: 'ebs-volume-remediator-cli',
      logger: { info: silent, warn: silent, error: silent },
      metrics: new Metrics({ namespace: metricsNamespace, serviceName }),
    },
    { ...(showProgress ? { onAction: progressOn(io.stderr) } : {}), throwOnFailure: false },
  );
  // The command line sends only sweep, remediate and fence-check requests; anything else is a bug.
  if (result.status === 'skipped' || result.status === 'lifecycle') {
    throw new UsageError(result.reason);
  }
  io.stdout.write(
    output === 'json'
      ? `${JSON.stringify(result, null, 2)}\n`
      : command === 'status' && result.status === 'swept'
        ? renderStatus(result.sweep, config.clusterName)
        : renderResult(result, config.clusterName),
  );
  return anyFailed(result) ? 1 : 0;
}

function anyFailed(result: Extract<InvocationResult, { dryRun: boolean }>): boolean {
  const failed = (reports: readonly { outcome: string }[]) =>
    reports.some((r) => r.outcome === 'failed');
  switch (result.status) {
    case 'swept':
      return failed(result.sweep.instances);
    case 'done':
      return failed(result.instances);
    case 'fence-check':
      return (
        failed(result.check.reports) ||
        failed(result.check.reports.flatMap((r) => (r.recovery ? [r.recovery] : [])))
      );
  }
}

/** Runs the command line; resolves with the exit status. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (error) {
    io.stderr.write(`error: ${messageOf(error)}\nRun with --help for the options.\n`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  try {
    return await run(values, positionals, io);
  } catch (error) {
    const usageMistake = error instanceof UsageError || error instanceof ConfigurationError;
    io.stderr.write(
      `error: ${messageOf(error)}\n${usageMistake ? 'Run with --help for the options.\n' : ''}`,
    );
    return usageMistake ? 2 : 1;
  }
}
