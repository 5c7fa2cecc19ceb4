import { HttpStatus } from '@nestjs/common';
import { DomainException } from '../common/errors/domain.exception.js';

export enum WebhooksErrorCode {
  EndpointNotFound = 'WEBHOOK_ENDPOINT_NOT_FOUND',
  DeliveryNotFound = 'WEBHOOK_DELIVERY_NOT_FOUND',
  InvalidUrl = 'WEBHOOK_INVALID_URL',
  TooManyEndpoints = 'WEBHOOK_TOO_MANY_ENDPOINTS',
  UnknownAgent = 'WEBHOOK_UNKNOWN_AGENT',
  EndpointDisabled = 'WEBHOOK_ENDPOINT_DISABLED',
  DeliveryInProgress = 'WEBHOOK_DELIVERY_IN_PROGRESS',
}

const STATUS: Record<WebhooksErrorCode, HttpStatus> = {
  [WebhooksErrorCode.EndpointNotFound]: HttpStatus.NOT_FOUND,
  [WebhooksErrorCode.DeliveryNotFound]: HttpStatus.NOT_FOUND,
  [WebhooksErrorCode.InvalidUrl]: HttpStatus.BAD_REQUEST,
  [WebhooksErrorCode.TooManyEndpoints]: HttpStatus.CONFLICT,
  [WebhooksErrorCode.UnknownAgent]: HttpStatus.BAD_REQUEST,
  [WebhooksErrorCode.EndpointDisabled]: HttpStatus.CONFLICT,
  [WebhooksErrorCode.DeliveryInProgress]: HttpStatus.CONFLICT,
};

export class WebhooksException extends DomainException {
  constructor(code: WebhooksErrorCode, message: string, details?: Record<string, unknown>) {
    super(STATUS[code], code, message, details);
  }
}
