import { HttpStatus } from '@nestjs/common';
import { DomainException } from '../common/errors/domain.exception.js';

export enum CallsErrorCode {
  NotFound = 'CALL_NOT_FOUND',
  PhoneInactive = 'CALL_PHONE_INACTIVE',
  PhoneNotConfigured = 'CALL_PHONE_NOT_CONFIGURED',
  AgentInactive = 'CALL_AGENT_INACTIVE',
  InvalidDestination = 'CALL_INVALID_DESTINATION',
  VariablesMissing = 'CALL_VARIABLES_MISSING',
  ExotelNotConfigured = 'CALL_EXOTEL_NOT_CONFIGURED',
  NoCredits = 'CALL_NO_CREDITS',
  RateLimited = 'CALL_RATE_LIMITED',
  TooManyActiveCalls = 'CALL_TOO_MANY_ACTIVE',
  AlreadyEnded = 'CALL_ALREADY_ENDED',
  PlacementInProgress = 'CALL_PLACEMENT_IN_PROGRESS',
  HangupUnsupported = 'CALL_HANGUP_UNSUPPORTED',
}

const STATUS: Record<CallsErrorCode, HttpStatus> = {
  [CallsErrorCode.NotFound]: HttpStatus.NOT_FOUND,
  [CallsErrorCode.PhoneInactive]: HttpStatus.CONFLICT,
  [CallsErrorCode.PhoneNotConfigured]: HttpStatus.CONFLICT,
  [CallsErrorCode.AgentInactive]: HttpStatus.CONFLICT,
  [CallsErrorCode.InvalidDestination]: HttpStatus.BAD_REQUEST,
  [CallsErrorCode.VariablesMissing]: HttpStatus.BAD_REQUEST,
  [CallsErrorCode.ExotelNotConfigured]: HttpStatus.PRECONDITION_FAILED,
  [CallsErrorCode.NoCredits]: HttpStatus.PAYMENT_REQUIRED,
  [CallsErrorCode.RateLimited]: HttpStatus.TOO_MANY_REQUESTS,
  [CallsErrorCode.TooManyActiveCalls]: HttpStatus.TOO_MANY_REQUESTS,
  [CallsErrorCode.AlreadyEnded]: HttpStatus.CONFLICT,
  [CallsErrorCode.PlacementInProgress]: HttpStatus.CONFLICT,
  [CallsErrorCode.HangupUnsupported]: HttpStatus.CONFLICT,
};

export class CallsException extends DomainException {
  constructor(code: CallsErrorCode, message: string, details?: Record<string, unknown>) {
    super(STATUS[code], code, message, details);
  }
}
