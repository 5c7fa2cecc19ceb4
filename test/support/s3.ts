import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { loadConfig, type S3StorageConfig } from '../../src/config/app-config.js';
import { createS3Client } from '../../src/storage/s3-object-storage.js';

/** The run's S3 server settings, as the app's environment names them. */
export function s3Environment(bucket: string): Record<string, string> {
  const server = inject('s3Server');
  return {
    STORAGE_DRIVER: 's3',
    S3_BUCKET: bucket,
    S3_ENDPOINT: server.endpoint,
    S3_REGION: server.region,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: server.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
  };
}

export function s3Config(bucket: string): S3StorageConfig {
  return loadConfig({ NODE_ENV: 'test', ...s3Environment(bucket) }).config.storage.s3;
}

/** A client of the run's S3 server with the run's keys. */
export function testS3Client(): S3Client {
  return createS3Client(s3Config('unused-bucket'));
}

/** Creates a bucket of this test's own (name valid for S3: lower case, 3-63 characters). */
export async function createTestBucket(prefix = 'test'): Promise<string> {
  const bucket = `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const client = testS3Client();
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return bucket;
}
