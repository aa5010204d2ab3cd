/**
 * A recording stand-in for the two Auto Scaling actions moto 5.2.1 does not implement:
 * `CompleteLifecycleAction` and `RecordLifecycleActionHeartbeat` (moto answers HTTP 500 with an
 * HTML page). It answers those two itself, records each call, and forwards every other request
 * to moto unchanged, so tests point all AWS clients at this one endpoint.
 *
 * Tests read what it recorded with `GET /__stand-in/lifecycle-actions` (see
 * `recordedLifecycleActions` in environment.ts).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import { readBody } from './http-body.ts';
import { forwardRequest, listenOnLoopback } from './loopback-server.ts';

export const recordingPath = '/__stand-in/lifecycle-actions';

const standInActions = new Set(['CompleteLifecycleAction', 'RecordLifecycleActionHeartbeat']);

/** One recorded call, with the parameters as the SDK sent them (query protocol). */
export interface RecordedLifecycleAction {
  readonly action: 'CompleteLifecycleAction' | 'RecordLifecycleActionHeartbeat';
  readonly autoScalingGroupName: string;
  readonly lifecycleHookName: string;
  readonly lifecycleActionToken?: string;
  readonly instanceId?: string;
  /** CONTINUE or ABANDON; CompleteLifecycleAction only. */
  readonly lifecycleActionResult?: string;
  /** rejected: the action was already completed, as Auto Scaling then answers ValidationError. */
  readonly outcome: 'accepted' | 'rejected';
  readonly receivedAt: string;
}

export interface RunningStandIn {
  readonly endpoint: string;
  stop(): Promise<void>;
}

const xmlns = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';

function sendXml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() });
  res.end(body);
}

function validationError(res: ServerResponse, message: string): void {
  sendXml(
    res,
    400,
    `<ErrorResponse xmlns="${xmlns}"><Error><Type>Sender</Type><Code>ValidationError</Code>` +
      `<Message>${message}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
  );
}

/** The validation Auto Scaling applies to the parameters every caller must send. */
function validationProblem(
  action: string,
  group: string | null,
  hook: string | null,
  token: string | undefined,
  instanceId: string | undefined,
  result: string | undefined,
): string | undefined {
  if (!group || !hook) return 'AutoScalingGroupName and LifecycleHookName are required';
  if (!token && !instanceId) return 'Either LifecycleActionToken or InstanceId must be specified';
  if (action === 'CompleteLifecycleAction' && result !== 'CONTINUE' && result !== 'ABANDON') {
    return 'LifecycleActionResult must be CONTINUE or ABANDON';
  }
  return undefined;
}

/**
 * Answers one stand-in action the way Auto Scaling does, including its validation of the
 * parameters every caller must send, so a wrong call fails here as it would on AWS.
 */
function answer(
  params: URLSearchParams,
  res: ServerResponse,
  recorded: RecordedLifecycleAction[],
  completed: Set<string>,
): void {
  const action = params.get('Action') as RecordedLifecycleAction['action'];
  const group = params.get('AutoScalingGroupName');
  const hook = params.get('LifecycleHookName');
  const token = params.get('LifecycleActionToken') ?? undefined;
  const instanceId = params.get('InstanceId') ?? undefined;
  const result = params.get('LifecycleActionResult') ?? undefined;
  const problem = validationProblem(action, group, hook, token, instanceId, result);
  if (problem || !group || !hook) {
    validationError(res, problem ?? 'invalid request');
    return;
  }
  // Once completed, a lifecycle action is no longer active: Auto Scaling rejects both calls.
  const key = `${group}|${hook}|${token ?? instanceId}`;
  const active = !completed.has(key);
  recorded.push({
    action,
    autoScalingGroupName: group,
    lifecycleHookName: hook,
    ...(token ? { lifecycleActionToken: token } : {}),
    ...(instanceId ? { instanceId } : {}),
    ...(action === 'CompleteLifecycleAction' ? { lifecycleActionResult: result } : {}),
    outcome: active ? 'accepted' : 'rejected',
    receivedAt: new Date().toISOString(),
  });
  if (!active) {
    validationError(
      res,
      token
        ? `No active Lifecycle Action found with token ${token}`
        : `No active Lifecycle Action found with instance ID ${instanceId}`,
    );
    return;
  }
  if (action === 'CompleteLifecycleAction') completed.add(key);
  sendXml(
    res,
    200,
    `<${action}Response xmlns="${xmlns}"><${action}Result/>` +
      `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
  );
}

/** Starts the stand-in on a free loopback port in front of moto at `motoEndpoint`. */
export async function startLifecycleStandIn(motoEndpoint: string): Promise<RunningStandIn> {
  const moto = new URL(motoEndpoint);
  const recorded: RecordedLifecycleAction[] = [];
  const completed = new Set<string>();
  const server = createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      if (req.url === recordingPath && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(recorded));
        return;
      }
      const isForm = (req.headers['content-type'] ?? '').includes('x-www-form-urlencoded');
      const params = isForm ? new URLSearchParams(body.toString('utf8')) : undefined;
      const action = params?.get('Action');
      if (params && action && standInActions.has(action)) answer(params, res, recorded, completed);
      else forwardRequest(req, body, res, moto, 'lifecycle stand-in');
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`lifecycle stand-in failed: ${(error as Error).message}`);
    }
  });
  return {
    endpoint: await listenOnLoopback(server, 'the lifecycle stand-in'),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
