import { HttpStatus } from '@nestjs/common';
import { DomainException } from '../common/errors/domain.exception.js';

export enum UsersErrorCode {
  NotFound = 'USER_NOT_FOUND',
  EmailTaken = 'USER_EMAIL_TAKEN',
  LastAdmin = 'USER_LAST_ADMIN',
  InsufficientCredits = 'USER_INSUFFICIENT_CREDITS',
}

const STATUS: Record<UsersErrorCode, HttpStatus> = {
  [UsersErrorCode.NotFound]: HttpStatus.NOT_FOUND,
  [UsersErrorCode.EmailTaken]: HttpStatus.CONFLICT,
  [UsersErrorCode.LastAdmin]: HttpStatus.CONFLICT,
  [UsersErrorCode.InsufficientCredits]: HttpStatus.CONFLICT,
};

export class UsersException extends DomainException {
  constructor(code: UsersErrorCode, message: string, details?: Record<string, unknown>) {
    super(STATUS[code], code, message, details);
  }
}
