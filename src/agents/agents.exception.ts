import { HttpStatus } from '@nestjs/common';
import { DomainException } from '../common/errors/domain.exception.js';

export enum AgentsErrorCode {
  NotFound = 'AGENT_NOT_FOUND',
  AssignedToPhones = 'AGENT_ASSIGNED_TO_PHONES',
}

const STATUS: Record<AgentsErrorCode, HttpStatus> = {
  [AgentsErrorCode.NotFound]: HttpStatus.NOT_FOUND,
  [AgentsErrorCode.AssignedToPhones]: HttpStatus.CONFLICT,
};

export class AgentsException extends DomainException {
  constructor(code: AgentsErrorCode, message: string, details?: Record<string, unknown>) {
    super(STATUS[code], code, message, details);
  }

  static notFound(): AgentsException {
    return new AgentsException(AgentsErrorCode.NotFound, 'Agent not found');
  }
}
