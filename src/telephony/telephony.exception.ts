import { HttpStatus } from '@nestjs/common';
import { DomainException } from '../common/errors/domain.exception.js';

export enum TelephonyErrorCode {
  BadSignature = 'TELEPHONY_BAD_SIGNATURE',
  UnknownWebhook = 'TELEPHONY_UNKNOWN_WEBHOOK',
  InvalidCallback = 'TELEPHONY_INVALID_CALLBACK',
  NumberNotFound = 'TELEPHONY_NUMBER_NOT_FOUND',
  NoAgent = 'TELEPHONY_NO_AGENT',
  RateLimited = 'TELEPHONY_RATE_LIMITED',
  NoCredits = 'TELEPHONY_NO_CREDITS',
  TooManyActiveCalls = 'TELEPHONY_TOO_MANY_ACTIVE_CALLS',
  CallNotFound = 'TELEPHONY_CALL_NOT_FOUND',
  CallEnded = 'TELEPHONY_CALL_ENDED',
}

const STATUS: Record<TelephonyErrorCode, HttpStatus> = {
  [TelephonyErrorCode.BadSignature]: HttpStatus.UNAUTHORIZED,
  [TelephonyErrorCode.UnknownWebhook]: HttpStatus.UNAUTHORIZED,
  [TelephonyErrorCode.InvalidCallback]: HttpStatus.BAD_REQUEST,
  [TelephonyErrorCode.NumberNotFound]: HttpStatus.NOT_FOUND,
  [TelephonyErrorCode.NoAgent]: HttpStatus.NOT_FOUND,
  [TelephonyErrorCode.RateLimited]: HttpStatus.TOO_MANY_REQUESTS,
  [TelephonyErrorCode.NoCredits]: HttpStatus.PAYMENT_REQUIRED,
  [TelephonyErrorCode.TooManyActiveCalls]: HttpStatus.TOO_MANY_REQUESTS,
  [TelephonyErrorCode.CallNotFound]: HttpStatus.NOT_FOUND,
  [TelephonyErrorCode.CallEnded]: HttpStatus.GONE,
};

export class TelephonyException extends DomainException {
  constructor(code: TelephonyErrorCode, message: string | string[]) {
    super(STATUS[code], code, Array.isArray(message) ? message.join('; ') : message);
  }
}
