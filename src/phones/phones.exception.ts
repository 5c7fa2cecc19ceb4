import { HttpStatus } from '@nestjs/common';
import { DomainException } from '../common/errors/domain.exception.js';

export enum PhonesErrorCode {
  NotFound = 'PHONE_NOT_FOUND',
  InvalidNumber = 'PHONE_INVALID_NUMBER',
  NumberTaken = 'PHONE_NUMBER_TAKEN',
  AgentNotFound = 'PHONE_AGENT_NOT_FOUND',
  NoAgent = 'PHONE_NO_AGENT',
}

const STATUS: Record<PhonesErrorCode, HttpStatus> = {
  [PhonesErrorCode.NotFound]: HttpStatus.NOT_FOUND,
  [PhonesErrorCode.InvalidNumber]: HttpStatus.BAD_REQUEST,
  [PhonesErrorCode.NumberTaken]: HttpStatus.CONFLICT,
  [PhonesErrorCode.AgentNotFound]: HttpStatus.NOT_FOUND,
  [PhonesErrorCode.NoAgent]: HttpStatus.CONFLICT,
};

export class PhonesException extends DomainException {
  constructor(code: PhonesErrorCode, message: string) {
    super(STATUS[code], code, message);
  }

  static notFound(): PhonesException {
    return new PhonesException(PhonesErrorCode.NotFound, 'Phone not found');
  }
}
