// Runs in a fresh Node.js process: imports a built function bundle, invokes its handler once
// with the event read from stdin, and prints the result as the last line of stdout, the way
// the Lambda runtime would call it (a minimal context, environment from the parent).
import { readFileSync, writeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/**
 * This process's peak resident memory. On Linux from /proc (VmHWM starts again at exec), not
 * getrusage: its maximum survives exec, so a child of a large process (the benchmark) would
 * report the parent's memory at the fork.
 */
function peakRssKiB(): number {
  try {
    const peak = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (peak?.[1]) return Number(peak[1]);
  } catch {
    // Not Linux: getrusage is all there is.
  }
  return process.resourceUsage().maxRSS;
}

const bundle = process.argv[2];
if (!bundle) throw new Error('usage: invoke-bundle.ts <dist/<function>/index.mjs>');
const event = JSON.parse(readFileSync(0, 'utf8'));
/**
 * The bundle's handler. A bundle whose import throws (its configuration checked at cold start)
 * is reported as Lambda reports a failed init, by the error's name and message: Node's own report
 * of an uncaught error prints the whole throwing source line first, and a minified line can be
 * longer than a pipe holds, so the message after it is lost when the process exits.
 */
async function loadHandler(path: string) {
  try {
    return (await import(pathToFileURL(path).href)).handler;
  } catch (error) {
    writeSync(2, `${(error as Error).name}: ${(error as Error).message}\n`);
    process.exit(1);
  }
}

const handler = await loadHandler(bundle);
// The deployed node-loss function's timeout, counting down like Lambda's clock.
const timeoutMs = Number(process.env.TEST_LAMBDA_TIMEOUT_MS ?? 120_000);
const cutOffAt = Date.now() + timeoutMs;
const context = {
  functionName: 'test-function',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:test-function',
  memoryLimitInMB: '512',
  awsRequestId: crypto.randomUUID(),
  getRemainingTimeInMillis: () => cutOffAt - Date.now(),
};
// Lambda ends an invocation at its timeout, whatever it is doing: so does this process, and says
// so the way Lambda does, so a test sees the cut-off it would get in production.
const lambdaTimeout = setTimeout(() => {
  const message = `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`;
  console.log(`ERROR ${JSON.stringify({ name: 'Sandbox.Timedout', message })}`);
  process.exit(1);
}, timeoutMs);
lambdaTimeout.unref();
try {
  const result = await handler(event, context);
  // For the benchmarks: the most memory this process held, in KiB.
  console.log(`USAGE ${JSON.stringify({ maxRssKiB: peakRssKiB() })}`);
  console.log(`RESULT ${JSON.stringify(result)}`);
} catch (error) {
  console.log(
    `ERROR ${JSON.stringify({ name: (error as Error).name, message: (error as Error).message })}`,
  );
  process.exitCode = 1;
} finally {
  clearTimeout(lambdaTimeout);
}
