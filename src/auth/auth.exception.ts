import { HttpStatus } from '@nestjs/common';
import { DomainException } from '../common/errors/domain.exception.js';

export enum AuthErrorCode {
  InvalidCredentials = 'AUTH_INVALID_CREDENTIALS',
  AccountDisabled = 'AUTH_ACCOUNT_DISABLED',
  EmailTaken = 'AUTH_EMAIL_TAKEN',
  WrongCurrentPassword = 'AUTH_WRONG_CURRENT_PASSWORD',
  AccountChanging = 'AUTH_ACCOUNT_CHANGING',
}

const STATUS: Record<AuthErrorCode, HttpStatus> = {
  [AuthErrorCode.InvalidCredentials]: HttpStatus.UNAUTHORIZED,
  [AuthErrorCode.AccountDisabled]: HttpStatus.FORBIDDEN,
  [AuthErrorCode.EmailTaken]: HttpStatus.CONFLICT,
  // Not 401: the bearer token is fine, and clients read 401 as "sign in again".
  [AuthErrorCode.WrongCurrentPassword]: HttpStatus.FORBIDDEN,
  // Only when an admin changed the role again and again while the token was being issued.
  [AuthErrorCode.AccountChanging]: HttpStatus.CONFLICT,
};

export class AuthException extends DomainException {
  constructor(code: AuthErrorCode, message: string) {
    super(STATUS[code], code, message);
  }
}
