// Builds the embedded MongoDB-wire server (tools/ferretdb) into .cache/ unless it is current.
import { ensureFerretdbBinary } from './local-services.mjs';

const binary = ensureFerretdbBinary();
console.log(`embedded MongoDB-wire server ready: ${binary}`);
