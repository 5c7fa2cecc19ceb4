import { HttpStatus } from '@nestjs/common';
import { DomainException } from '../common/errors/domain.exception.js';

export enum SessionsErrorCode {
  NotFound = 'SESSION_NOT_FOUND',
  Ended = 'SESSION_ENDED',
}

const STATUS: Record<SessionsErrorCode, HttpStatus> = {
  [SessionsErrorCode.NotFound]: HttpStatus.NOT_FOUND,
  [SessionsErrorCode.Ended]: HttpStatus.CONFLICT,
};

export class SessionsException extends DomainException {
  constructor(code: SessionsErrorCode, message: string) {
    super(STATUS[code], code, message);
  }
}
