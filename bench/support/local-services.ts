import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type LocalServices = typeof import('../../scripts/local-services.mjs');

/**
 * The folder holding package.json. Benches run compiled from dist/bench/, where a static
 * relative import of scripts/ would point into dist/, so the root is found at run time.
 */
export function projectRoot(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(folder, 'package.json'))) {
    const parent = dirname(folder);
    if (parent === folder) {
      throw new Error('package.json not found above the bench folder');
    }
    folder = parent;
  }
  return folder;
}

/** scripts/local-services.mjs (the same helpers the test harness uses to start databases). */
export async function loadLocalServices(): Promise<LocalServices> {
  const path = join(projectRoot(), 'scripts', 'local-services.mjs');
  return (await import(pathToFileURL(path).href)) as LocalServices;
}
