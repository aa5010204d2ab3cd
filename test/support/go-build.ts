import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { cacheDir, ensureDir, logDir } from './paths.ts';
import { run, TestEnvironmentError } from './processes.ts';

async function goVersion(): Promise<string> {
  try {
    return (await run('go', ['version'])).trim();
  } catch (error) {
    throw new TestEnvironmentError(
      'Go is needed to build the Kubernetes control plane and the cloud agents the integration ' +
        'tests run against, and `go` was not found on PATH. Install Go 1.26 or newer ' +
        '(https://go.dev/dl/) and run the tests again.',
      { cause: error },
    );
  }
}

/** The files a build reads, by name: the sources, and the go.mod and go.sum it builds with. */
function buildSources(program: GoProgram): Array<[string, string]> {
  const moduleDir = program.moduleDir ?? program.sourceDir;
  const goFiles = readdirSync(program.sourceDir).filter((file) => file.endsWith('.go'));
  const moduleFiles = readdirSync(moduleDir).filter((f) => f === 'go.mod' || f === 'go.sum');
  return [
    ...goFiles.map((file): [string, string] => [file, join(program.sourceDir, file)]),
    ...moduleFiles.map((file): [string, string] => [file, join(moduleDir, file)]),
  ].sort(([a], [b]) => a.localeCompare(b));
}

/** A folder with the sources and the module files together, for a build with another go.mod. */
function assembled(sources: ReadonlyArray<[string, string]>, dir: string): string {
  ensureDir(dir);
  for (const [file, path] of sources) copyFileSync(path, join(dir, file));
  return dir;
}

export interface GoProgram {
  /** A name for messages and the cache folder. */
  readonly name: string;
  /** The Go module's folder in this repository. */
  readonly sourceDir: string;
  /**
   * Another folder's go.mod and go.sum to build the sources of `sourceDir` with: the same
   * program against other module versions (another Kubernetes minor).
   */
  readonly moduleDir?: string;
  /** Binary name -> Go package to build (`.` for the module's own main package). */
  readonly binaries: Readonly<Record<string, string>>;
  /** Linker flags (`-ldflags`), such as a version stamped in. */
  readonly ldflags?: string;
  /** What a cold build costs, for the message shown before it. */
  readonly coldBuild: string;
}

/**
 * Builds a Go program of the test support unless binaries built from the same sources and Go
 * version are cached, and returns their paths by name. Each binary is written aside and renamed
 * into place, so concurrent runs never see half a file; Go's build cache makes a rebuild after
 * a change take seconds.
 */
export async function ensureGoProgramBuilt(
  program: GoProgram,
): Promise<Readonly<Record<string, string>>> {
  const version = await goVersion();
  const hash = createHash('sha256').update(version);
  const sources = buildSources(program);
  for (const [file, path] of sources) hash.update(file).update(readFileSync(path));
  hash.update(program.ldflags ?? '');
  const key = hash.digest('hex').slice(0, 16);
  const folder = join(cacheDir, program.name, key);
  const paths = Object.fromEntries(
    Object.keys(program.binaries).map((binary) => [binary, join(folder, binary)]),
  );
  const missing = Object.entries(program.binaries).filter(
    ([binary]) => !existsSync(paths[binary] ?? ''),
  );
  if (missing.length === 0) return paths;

  ensureDir(folder);
  const buildDir = program.moduleDir ? assembled(sources, join(folder, 'src')) : program.sourceDir;
  const started = Date.now();
  process.stderr.write(
    `building ${program.name} from Go modules (${version}); a cold build takes ${program.coldBuild} ` +
      'on 2 cores, later ones reuse the cache...\n',
  );
  for (const [binary, pkg] of missing) {
    const target = paths[binary] ?? '';
    const partial = `${target}.partial-${process.pid}`;
    try {
      const flags = program.ldflags ? ['-ldflags', program.ldflags] : [];
      const output = await run('go', ['build', ...flags, '-o', partial, pkg], {
        cwd: buildDir,
        env: { ...process.env, CGO_ENABLED: '0' },
      });
      writeFileSync(join(ensureDir(logDir), `${program.name}-build.log`), output);
    } catch (error) {
      throw new TestEnvironmentError(
        `building ${binary} of ${program.name} failed. It needs Go 1.26+ and the Go module proxy ` +
          '(GOPROXY, default https://proxy.golang.org) to download its modules; check both, then ' +
          'run the tests again.',
        { cause: error },
      );
    }
    renameSync(partial, target);
  }
  process.stderr.write(`built ${program.name} in ${Math.round((Date.now() - started) / 1000)}s\n`);
  return paths;
}
