import { HttpStatus } from '@nestjs/common';
import { DomainException } from '../common/errors/domain.exception.js';

export enum QueueDashboardErrorCode {
  SignInRequired = 'QUEUE_DASHBOARD_SIGN_IN_REQUIRED',
  AdminRequired = 'QUEUE_DASHBOARD_ADMIN_REQUIRED',
  CrossSiteRequest = 'QUEUE_DASHBOARD_CROSS_SITE_REQUEST',
}

const STATUS: Record<QueueDashboardErrorCode, HttpStatus> = {
  [QueueDashboardErrorCode.SignInRequired]: HttpStatus.UNAUTHORIZED,
  [QueueDashboardErrorCode.AdminRequired]: HttpStatus.FORBIDDEN,
  [QueueDashboardErrorCode.CrossSiteRequest]: HttpStatus.FORBIDDEN,
};

export class QueueDashboardException extends DomainException {
  constructor(code: QueueDashboardErrorCode, message: string) {
    super(STATUS[code], code, message);
  }
}
