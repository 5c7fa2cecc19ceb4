import { HttpStatus } from '@nestjs/common';
import { DomainException } from '../common/errors/domain.exception.js';

export enum RecordingsErrorCode {
  CallNotFound = 'CALL_NOT_FOUND',
  /** The call has no recording, or ours could not be made (missing, too large, failed). */
  NotAvailable = 'RECORDING_NOT_AVAILABLE',
  /** The copy from the carrier is still under way. */
  Pending = 'RECORDING_PENDING',
  /** Deleted after the retention period. */
  Deleted = 'RECORDING_DELETED',
}

const STATUS: Record<RecordingsErrorCode, HttpStatus> = {
  [RecordingsErrorCode.CallNotFound]: HttpStatus.NOT_FOUND,
  [RecordingsErrorCode.NotAvailable]: HttpStatus.NOT_FOUND,
  [RecordingsErrorCode.Pending]: HttpStatus.CONFLICT,
  [RecordingsErrorCode.Deleted]: HttpStatus.GONE,
};

export class RecordingsException extends DomainException {
  constructor(code: RecordingsErrorCode, message: string, details?: Record<string, unknown>) {
    super(STATUS[code], code, message, details);
  }
}
