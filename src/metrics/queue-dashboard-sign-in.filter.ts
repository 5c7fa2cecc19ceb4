import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthErrorCode } from '../auth/auth.exception.js';
import { DomainException } from '../common/errors/domain.exception.js';
import { toErrorBody } from '../common/filters/all-exceptions.filter.js';
import { TooManyRequestsException } from '../common/throttling/too-many-requests.exception.js';
import { QueueDashboardSignInService } from './queue-dashboard-sign-in.service.js';
import { QueueDashboardErrorCode } from './queue-dashboard.exception.js';

const MESSAGES_BY_STATUS: Partial<Record<number, string>> = {
  [HttpStatus.UNAUTHORIZED]: 'Email or password is incorrect.',
  [HttpStatus.BAD_REQUEST]: 'Enter an email address and a password.',
  [HttpStatus.TOO_MANY_REQUESTS]: 'Too many sign-in attempts. Try again later.',
};

/**
 * A person at a browser gets the sign-in form again with a short message and the error's
 * status, never a JSON body. Messages stay generic: they never say whether an email exists.
 */
function messageFor(status: number, code: string | undefined): string {
  if (code === QueueDashboardErrorCode.CrossSiteRequest) {
    return 'This form must be sent from this site. Reload the page and try again.';
  }
  if (code === QueueDashboardErrorCode.AdminRequired || code === AuthErrorCode.AccountDisabled) {
    return 'This account cannot open the queue dashboard.';
  }
  return MESSAGES_BY_STATUS[status] ?? 'Sign-in failed. Try again.';
}

@Catch(DomainException, HttpException)
export class QueueDashboardSignInFilter implements ExceptionFilter {
  private readonly logger = new Logger('QueueDashboardSignIn');

  constructor(private readonly signIn: QueueDashboardSignInService) {}

  catch(exception: DomainException | HttpException, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    // The status any other route would answer; server-side failures are logged there too.
    const { statusCode } = toErrorBody(exception, request.id, this.logger);
    const code = exception instanceof DomainException ? exception.code : undefined;
    if (exception instanceof TooManyRequestsException) {
      void reply.header('retry-after', String(exception.retryAfterSeconds));
    }
    void reply
      .status(statusCode)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(this.signIn.page(messageFor(statusCode, code)));
  }
}
