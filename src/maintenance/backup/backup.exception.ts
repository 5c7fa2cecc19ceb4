import { HttpStatus } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception.js';

export enum BackupErrorCode {
  FolderNotFound = 'BACKUP_FOLDER_NOT_FOUND',
  NothingToRestore = 'BACKUP_NOTHING_TO_RESTORE',
  MetadataUnreadable = 'BACKUP_METADATA_UNREADABLE',
  DataCorrupt = 'BACKUP_DATA_CORRUPT',
  BackupFailed = 'BACKUP_FAILED',
  /** The backup is complete on this machine; its copy to object storage failed. */
  UploadFailed = 'BACKUP_UPLOAD_FAILED',
  RestoreIncomplete = 'BACKUP_RESTORE_INCOMPLETE',
  TargetInUse = 'BACKUP_TARGET_IN_USE',
}

const STATUS: Record<BackupErrorCode, HttpStatus> = {
  [BackupErrorCode.FolderNotFound]: HttpStatus.NOT_FOUND,
  [BackupErrorCode.NothingToRestore]: HttpStatus.UNPROCESSABLE_ENTITY,
  [BackupErrorCode.MetadataUnreadable]: HttpStatus.UNPROCESSABLE_ENTITY,
  [BackupErrorCode.DataCorrupt]: HttpStatus.UNPROCESSABLE_ENTITY,
  [BackupErrorCode.BackupFailed]: HttpStatus.INTERNAL_SERVER_ERROR,
  [BackupErrorCode.UploadFailed]: HttpStatus.BAD_GATEWAY,
  [BackupErrorCode.RestoreIncomplete]: HttpStatus.INTERNAL_SERVER_ERROR,
  [BackupErrorCode.TargetInUse]: HttpStatus.CONFLICT,
};

/** A backup or restore that could not be done; the message tells the operator what and why. */
export class BackupException extends DomainException {
  constructor(code: BackupErrorCode, message: string, details?: Record<string, unknown>) {
    super(STATUS[code], code, message, details);
  }
}
