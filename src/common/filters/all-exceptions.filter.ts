import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { FastifyReply, FastifyRequest } from 'fastify';
import mongoose, { type Connection } from 'mongoose';
import { DomainException } from '../errors/domain.exception.js';
import { type ErrorBody, internalErrorBody, reasonPhrase } from '../errors/error-body.js';
import { dependencyUnavailable } from './dependency-unavailable.js';

/** Seconds a client is asked to wait before retrying while a dependency is down. */
const DEPENDENCY_RETRY_AFTER_SECONDS = 5;

interface ErrorWithStatus {
  statusCode: number;
  message: string;
  code?: string;
}

function isClientError(error: unknown): error is ErrorWithStatus {
  if (typeof error !== 'object' || error === null) {
    return false;
  }
  const { statusCode, message } = error as Partial<ErrorWithStatus>;
  return (
    typeof statusCode === 'number' &&
    statusCode >= 400 &&
    statusCode < 500 &&
    typeof message === 'string'
  );
}

/**
 * Turns any error into Nest's shape `{statusCode, error, message}` plus the request id.
 * Typed module errors and HTTP exceptions keep their status; Fastify's own 4xx errors
 * (malformed JSON, body too large, bad content type) keep theirs; Redis or MongoDB being
 * unreachable is a 503 naming it (logged as a warning: the fault is outside this process);
 * anything else is logged with the request id and answered as a bare 500.
 */
export function toErrorBody(
  exception: unknown,
  requestId: string,
  logger: Logger,
  mongo?: { connected: boolean },
): ErrorBody {
  if (exception instanceof DomainException) {
    return {
      statusCode: exception.status,
      error: reasonPhrase(exception.status),
      message: exception.message,
      code: exception.code,
      ...exception.details,
      requestId,
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const body =
      typeof response === 'string' ? { message: response } : (response as Record<string, unknown>);
    if (status >= 500) {
      logger.error({ err: exception, requestId }, 'request failed');
    }
    return {
      ...body,
      statusCode: status,
      error: typeof body.error === 'string' ? body.error : reasonPhrase(status),
      message: (body.message as string | string[] | undefined) ?? reasonPhrase(status),
      requestId,
    };
  }
  if (isClientError(exception)) {
    return {
      statusCode: exception.statusCode,
      error: reasonPhrase(exception.statusCode),
      message: exception.message,
      ...(exception.code ? { code: exception.code } : {}),
      requestId,
    };
  }
  const unavailable = dependencyUnavailable(exception, mongo);
  if (unavailable) {
    logger.warn({ err: exception, requestId }, `${unavailable.dependency} unavailable`);
    return {
      statusCode: HttpStatus.SERVICE_UNAVAILABLE,
      error: reasonPhrase(HttpStatus.SERVICE_UNAVAILABLE),
      message: unavailable.message,
      code: unavailable.code,
      retryAfterSeconds: DEPENDENCY_RETRY_AFTER_SECONDS,
      requestId,
    };
  }
  logger.error({ err: exception, requestId }, 'unhandled error');
  return internalErrorBody(requestId);
}

@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('ExceptionsFilter');
  /** Whether the MongoDB connection currently has its server (see dependencyUnavailable). */
  private readonly mongo: { readonly connected: boolean };

  constructor(@InjectConnection() connection: Connection) {
    this.mongo = {
      get connected() {
        return connection.readyState === mongoose.ConnectionStates.connected;
      },
    };
  }

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const body = toErrorBody(exception, request.id, this.logger, this.mongo);
    if (typeof body.retryAfterSeconds === 'number') {
      void reply.header('Retry-After', String(body.retryAfterSeconds));
    }
    void reply.status(body.statusCode).send(body);
  }
}
