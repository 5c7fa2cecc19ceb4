import { HttpStatus } from '@nestjs/common';
import { DomainException } from '../common/errors/domain.exception.js';

export enum AuthErrorCode {
  InvalidCredentials = 'AUTH_INVALID_CREDENTIALS',
  AccountDisabled = 'AUTH_ACCOUNT_DISABLED',
  EmailTaken = 'AUTH_EMAIL_TAKEN',
}

const STATUS: Record<AuthErrorCode, HttpStatus> = {
  [AuthErrorCode.InvalidCredentials]: HttpStatus.UNAUTHORIZED,
  [AuthErrorCode.AccountDisabled]: HttpStatus.FORBIDDEN,
  [AuthErrorCode.EmailTaken]: HttpStatus.CONFLICT,
};

export class AuthException extends DomainException {
  constructor(code: AuthErrorCode, message: string) {
    super(STATUS[code], code, message);
  }
}
