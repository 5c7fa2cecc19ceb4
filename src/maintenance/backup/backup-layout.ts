import { join } from 'node:path';

/** File suffixes `mongodump --gzip` writes, which `mongorestore --gzip` looks for. */
export const BSON_FILE_SUFFIX = '.bson.gz';
export const METADATA_FILE_SUFFIX = '.metadata.json.gz';
/** Our own record of a backup (time range, counts, versions), next to the dumps; mongorestore skips it. */
export const MANIFEST_FILE = 'backup.json';

/**
 * Backups are written under this folder of `{root}/mongodb/` and moved into their date folder
 * only when complete; its leading dot keeps restore and retention from taking it for a backup.
 */
export const IN_PROGRESS_FOLDER = '.in-progress';

const DATE_FOLDER_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/** `YYYY-MM-DD` in UTC, so every replica names the same day's folder the same way. */
export function backupDateName(moment: Date): string {
  return moment.toISOString().slice(0, 10);
}

/** The UTC midnight a date folder stands for, or undefined for any other name. */
export function parseBackupDateName(name: string): Date | undefined {
  const match = DATE_FOLDER_PATTERN.exec(name);
  if (!match) {
    return undefined;
  }
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return backupDateName(date) === name ? date : undefined;
}

export function mongoBackupsFolder(root: string): string {
  return join(root, 'mongodb');
}

export function backupDateFolder(root: string, moment: Date): string {
  return join(mongoBackupsFolder(root), backupDateName(moment));
}

/**
 * File name stem of a collection, escaped like mongodump does for the characters a file name
 * cannot hold; `collectionName` in the metadata keeps the real name.
 */
export function collectionFileStem(collection: string): string {
  return collection.replaceAll('%', '%25').replaceAll('/', '%2F');
}

export function collectionNameFromStem(stem: string): string {
  return stem.replaceAll('%2F', '/').replaceAll('%25', '%');
}
