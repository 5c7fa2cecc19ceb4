import { Module } from '@nestjs/common';
import { HealthService } from './health.service.js';

/** The checks; their routes are plain Fastify routes (health.routes.ts), not a controller. */
@Module({ providers: [HealthService], exports: [HealthService] })
export class HealthModule {}
