import type { AppConfig } from '../config/app-config.js';
import { LocalObjectStorage } from './local-object-storage.js';
import type { ObjectStorage } from './object-storage.js';

/**
 * The S3 storage, loaded only when used: the AWS SDK costs a process about 27 MB and 0.4 s to
 * load, which instances on the local driver do not pay.
 */
async function s3Storage(
  config: AppConfig['storage']['s3'],
  bucket: string,
): Promise<ObjectStorage> {
  const { createS3Client, S3ObjectStorage } = await import('./s3-object-storage.js');
  return new S3ObjectStorage(createS3Client(config), bucket);
}

/** Where call recordings are kept: S3_BUCKET, or `recordings/...` under the local folder. */
export async function createRecordingStorage(config: AppConfig['storage']): Promise<ObjectStorage> {
  if (config.driver === 's3' && config.s3.bucket !== undefined) {
    return s3Storage(config.s3, config.s3.bucket);
  }
  return new LocalObjectStorage(config.localDir);
}

/**
 * Where backups are copied off the machine: the backup bucket with the `s3` driver; undefined
 * with `local` (the backups already are on this machine's disk, in BACKUP_DIR).
 */
export async function createBackupStorage(
  config: AppConfig['storage'],
): Promise<ObjectStorage | undefined> {
  if (config.driver !== 's3' || config.backupBucket === undefined) {
    return undefined;
  }
  return s3Storage(config.s3, config.backupBucket);
}

/**
 * The storage a location names, for restore: `s3://bucket/prefix` (with the S3 settings of
 * the configuration), else a local folder (undefined: read it as a folder).
 */
export async function storageForLocation(
  config: AppConfig['storage'],
  location: string,
): Promise<{ storage: ObjectStorage; prefix: string } | undefined> {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(location);
  if (match === null) {
    return undefined;
  }
  const [, bucket = '', prefix = ''] = match;
  return {
    storage: await s3Storage(config.s3, bucket),
    prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`,
  };
}
