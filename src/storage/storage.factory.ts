import type { AppConfig } from '../config/app-config.js';
import { LocalObjectStorage } from './local-object-storage.js';
import type { ObjectStorage } from './object-storage.js';
import { createS3Client, S3ObjectStorage } from './s3-object-storage.js';

/** Where call recordings are kept: S3_BUCKET, or `recordings/...` under the local folder. */
export function createRecordingStorage(config: AppConfig['storage']): ObjectStorage {
  if (config.driver === 's3' && config.s3.bucket !== undefined) {
    return new S3ObjectStorage(createS3Client(config.s3), config.s3.bucket);
  }
  return new LocalObjectStorage(config.localDir);
}

/**
 * Where backups are copied off the machine: the backup bucket with the `s3` driver; undefined
 * with `local` (the backups already are on this machine's disk, in BACKUP_DIR).
 */
export function createBackupStorage(config: AppConfig['storage']): ObjectStorage | undefined {
  if (config.driver !== 's3' || config.backupBucket === undefined) {
    return undefined;
  }
  return new S3ObjectStorage(createS3Client(config.s3), config.backupBucket);
}

/**
 * The storage a location names, for restore: `s3://bucket/prefix` (with the S3 settings of
 * the configuration), else a local folder (undefined: read it as a folder).
 */
export function storageForLocation(
  config: AppConfig['storage'],
  location: string,
): { storage: ObjectStorage; prefix: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(location);
  if (match === null) {
    return undefined;
  }
  const [, bucket = '', prefix = ''] = match;
  return {
    storage: new S3ObjectStorage(createS3Client(config.s3), bucket),
    prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`,
  };
}
