// Builds the embedded MongoDB-wire server (tools/ferretdb) into .cache/ unless it is current.
import { ensureFerretdbBinary } from './local-services.mjs';

const binary = ensureFerretdbBinary();
process.stdout.write(`embedded MongoDB-wire server ready: ${binary}\n`);
