import { createHash, timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { MetricsErrorCode, MetricsException } from './metrics.exception.js';

/**
 * GET /metrics takes its own bearer token (METRICS_TOKEN), not a user's: scrapers are not
 * accounts, and the figures describe every tenant. Without a configured token the route is
 * disabled (404) in every environment, so forgetting the setting never opens it.
 */
@Injectable()
export class MetricsTokenGuard implements CanActivate {
  private readonly expectedDigest?: Buffer;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.expectedDigest =
      config.metrics.token === undefined ? undefined : digest(config.metrics.token);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.expectedDigest === undefined) {
      throw new MetricsException(MetricsErrorCode.Disabled, 'Metrics are disabled');
    }
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers.authorization;
    const given = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
    // Digests have one length, so the comparison takes the same time whatever was sent.
    if (given === undefined || !timingSafeEqual(digest(given), this.expectedDigest)) {
      throw new MetricsException(
        MetricsErrorCode.InvalidToken,
        'GET /metrics needs "Authorization: Bearer <METRICS_TOKEN>"',
      );
    }
    return true;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
