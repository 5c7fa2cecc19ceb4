import { HttpStatus } from '@nestjs/common';
import { DomainException } from '../common/errors/domain.exception.js';

export enum MetricsErrorCode {
  Disabled = 'METRICS_DISABLED',
  InvalidToken = 'METRICS_INVALID_TOKEN',
}

const STATUS: Record<MetricsErrorCode, HttpStatus> = {
  // As if the route did not exist: without METRICS_TOKEN nobody may scrape.
  [MetricsErrorCode.Disabled]: HttpStatus.NOT_FOUND,
  [MetricsErrorCode.InvalidToken]: HttpStatus.UNAUTHORIZED,
};

export class MetricsException extends DomainException {
  constructor(code: MetricsErrorCode, message: string) {
    super(STATUS[code], code, message);
  }
}
