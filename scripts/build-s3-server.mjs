// Builds the S3-protocol test server (tools/s3server: versitygw) into .cache/ unless it is current.
import { ensureS3ServerBinary } from './local-services.mjs';

const binary = ensureS3ServerBinary();
process.stdout.write(`S3 test server ready: ${binary}\n`);
