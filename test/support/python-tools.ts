import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from './paths.ts';
import { run, TestEnvironmentError } from './processes.ts';

async function works(command: string, probeArgs: readonly string[]): Promise<boolean> {
  try {
    await run(command, probeArgs);
    return true;
  } catch {
    return false;
  }
}

export interface PythonTool {
  /** The command, as on PATH, such as `moto_server`. */
  readonly command: string;
  /** The pinned requirement installed when the machine lacks the command, such as `moto[server]==5.2.1`. */
  readonly requirement: string;
  /** An environment variable that, when set, names the command to use instead. */
  readonly overrideVariable: string;
  /** Arguments that make the command print something and exit 0. */
  readonly probeArgs: readonly string[];
}

/**
 * Finds a Python command-line tool the tests need: the one named by its override variable, else
 * the machine's, else one installed with its pinned version into a project-local virtual
 * environment (`.cache/python-tools`). Fails with what to install when none can be had.
 */
export async function ensurePythonTool(tool: PythonTool): Promise<string> {
  const configured = process.env[tool.overrideVariable];
  if (configured) {
    if (await works(configured, tool.probeArgs)) return configured;
    throw new TestEnvironmentError(`${tool.overrideVariable}=${configured} does not run`);
  }
  if (await works(tool.command, tool.probeArgs)) return tool.command;
  const venvDir = join(cacheDir, 'python-tools');
  const installed = join(venvDir, 'bin', tool.command);
  if (existsSync(installed) && (await works(installed, tool.probeArgs))) return installed;

  process.stderr.write(`installing ${tool.requirement} into ${venvDir}...\n`);
  try {
    if (!existsSync(join(venvDir, 'bin', 'pip'))) await run('python3', ['-m', 'venv', venvDir]);
  } catch (error) {
    throw new TestEnvironmentError(
      `the tests need ${tool.command}: it is not on PATH and \`python3 -m venv\` failed. ` +
        `Install Python 3.9+ with venv (or run pip install '${tool.requirement}') and run the tests again.`,
      { cause: error },
    );
  }
  try {
    await run(join(venvDir, 'bin', 'pip'), ['install', '--quiet', tool.requirement]);
  } catch (error) {
    throw new TestEnvironmentError(
      `installing ${tool.requirement} from PyPI failed; check that PyPI is reachable, or install ` +
        `it yourself and set ${tool.overrideVariable} to its ${tool.command}`,
      { cause: error },
    );
  }
  return installed;
}
