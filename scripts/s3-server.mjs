// Runs the S3-protocol test server in the foreground until interrupted; prints the settings
// that point the app (or a test run) at it. Used by .ci/run; handy for trying STORAGE_DRIVER=s3.
import { startS3Server } from './local-services.mjs';

const buckets = (process.env.S3_SERVER_BUCKETS ?? 'recordings').split(',').filter(Boolean);
const port = process.env.S3_SERVER_PORT ? Number(process.env.S3_SERVER_PORT) : undefined;
const server = await startS3Server({ buckets, port });
process.stdout.write(
  [
    `S3_ENDPOINT=${server.endpoint}`,
    'S3_FORCE_PATH_STYLE=true',
    `S3_REGION=${server.region}`,
    `AWS_ACCESS_KEY_ID=${server.accessKeyId}`,
    `AWS_SECRET_ACCESS_KEY=${server.secretAccessKey}`,
    `# buckets: ${buckets.join(', ')} (folders under ${server.root})`,
    '',
  ].join('\n'),
);
const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
server.child.once('exit', (code) => {
  process.stderr.write(`S3 test server exited (${code})\n`);
  process.exit(1);
});
