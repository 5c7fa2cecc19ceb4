import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { projectRoot } from '../../scripts/local-services.mjs';

export interface BuiltEntry {
  /** The private folder to delete afterwards. */
  folder: string;
  /** The compiled entry point, to run with `node`. */
  script: string;
}

/**
 * Compiles one entry point of `src` and what it imports, as `npm run build` does, into a
 * private folder under `.cache/`, for tests that run the program as its own process. Throws
 * with the compiler's output when it fails.
 */
export async function buildEntry(entry: 'cli' | 'main'): Promise<BuiltEntry> {
  const folder = join(projectRoot, '.cache', `${entry}-e2e-${randomBytes(4).toString('hex')}`);
  await mkdir(folder, { recursive: true });
  await writeFile(
    join(folder, 'tsconfig.json'),
    JSON.stringify({
      extends: '../../tsconfig.json',
      compilerOptions: { outDir: './out', rootDir: '../..', sourceMap: false },
      include: [],
      files: [`../../src/${entry}.ts`],
    }),
  );
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const failure = await new Promise<string>((resolve) => {
    const compiler = spawn(process.execPath, [tsc, '-p', join(folder, 'tsconfig.json')], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    compiler.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    compiler.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    compiler.on('close', (code) =>
      resolve(code === 0 && output === '' ? '' : output || `tsc exited ${code}`),
    );
  });
  if (failure !== '') {
    throw new Error(`compiling src/${entry}.ts failed:\n${failure}`);
  }
  return { folder, script: join(folder, 'out', 'src', `${entry}.js`) };
}
