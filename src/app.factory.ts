import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import helmet from '@fastify/helmet';
import multipart from '@fastify/multipart';
import { Logger as NestLogger, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule, type AppModuleOptions } from './app.module.js';
import { isProbeRoute } from './common/decorators/probe.decorator.js';
import { toErrorBody } from './common/filters/all-exceptions.filter.js';
import type { AppConfig } from './config/app-config.js';
import { MetricsService } from './metrics/metrics.service.js';
import { QueueDashboardAccess } from './metrics/queue-dashboard-access.js';
import { guardQueueDashboardRoutes } from './metrics/queue-dashboard-access.hook.js';
import { QueueDashboardPaths } from './metrics/queue-dashboard.paths.js';
import { APP_CONFIG } from './config/config.module.js';
import { HEALTH_MODELS, healthOpenApiPaths, registerHealthRoutes } from './health/health.routes.js';
import { HealthService } from './health/health.service.js';
import { LivenessShortcut } from './health/liveness-shortcut.js';
import { ExotelMediaStreamGateway } from './telephony/media-stream/exotel-media-stream.gateway.js';
import { registerMediaStreamRoute } from './telephony/media-stream/media-stream.route.js';

export const API_PREFIX = 'api/v1';
const REQUEST_ID_PATTERN = /^[\w.:-]{1,128}$/;

function requestIdOf(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
  // pino-http reads the same id from the raw request.
  (request as IncomingMessage & { id?: string }).id = id;
  return id;
}

function setUpSwagger(app: NestFastifyApplication): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('AI calling platform API')
      .setDescription(
        'AI voice agents on Exotel numbers: accounts, agents, phone numbers, calls and live sessions. ' +
          'Lists take page (from 1) and limit (1-100, default 20). Errors: {statusCode, error, message, requestId}.',
      )
      .setVersion('1')
      .addBearerAuth()
      .build(),
    { extraModels: HEALTH_MODELS },
  );
  // The health routes are Fastify's own (see registerHealthRoutes): Nest does not list them.
  Object.assign(document.paths, healthOpenApiPaths(API_PREFIX));
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}

/** A hop count as the function Fastify builds from one (its adapter's type takes no number). */
function trustProxyOption(
  trustProxy: AppConfig['trustProxy'],
): false | string[] | ((address: string, hop: number) => boolean) {
  return typeof trustProxy === 'number' ? (_address, hop) => hop < trustProxy : trustProxy;
}

/** Builds the fully configured application (used by main, tests and benchmarks). */
export async function createApp(options: AppModuleOptions = {}): Promise<NestFastifyApplication> {
  const liveness = new LivenessShortcut(`/${API_PREFIX}/health`, requestIdOf);
  const adapter = new FastifyAdapter({
    serverFactory: liveness.serverFactory,
    genReqId: requestIdOf,
    bodyLimit: options.config?.bodyLimitBytes ?? 256 * 1024,
    // Only the configured load balancer may say who the client is (X-Forwarded-For); with
    // nothing configured the header is ignored, so a client cannot pick its throttling IP.
    trustProxy: trustProxyOption(options.config?.trustProxy ?? false),
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(options),
    adapter,
    {
      bufferLogs: true,
    },
  );
  const config = app.get<AppConfig>(APP_CONFIG);
  const logger = app.get(Logger);
  app.useLogger(logger);
  app.flushLogs();

  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('preClose', (done) => {
    liveness.markClosing();
    done();
  });
  const errorLogger = new NestLogger('Http');
  // Set when the request arrives, so every answer (errors and 404s included) carries it; a
  // callback hook costs no promise per request.
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });
  // The queue dashboard (api role) is a Fastify plugin, outside Nest's guards: its routes get
  // the admin check as they register, which bull-board does on `ready`, i.e. after this line.
  const dashboard = config.roles.api
    ? (() => {
        const paths = app.get(QueueDashboardPaths);
        const guard = guardQueueDashboardRoutes(
          fastify,
          app.get(QueueDashboardAccess),
          paths,
          errorLogger,
        );
        return { paths, guard };
      })()
    : undefined;
  const metrics = app.get(MetricsService);
  fastify.addHook('onResponse', (request, reply, done) => {
    // Probes and scrapes would only swamp the request figures (see @Probe()).
    if (!isProbeRoute(request.routeOptions.config)) {
      metrics.observeRequest(
        request.method,
        request.routeOptions.url ?? 'unmatched',
        reply.statusCode,
        reply.elapsedTime / 1000,
      );
    }
    done();
  });
  // Errors raised by Fastify itself (malformed JSON, body too large) get the same shape.
  fastify.setErrorHandler((error, request, reply) => {
    const body = toErrorBody(error, request.id, errorLogger);
    void reply.status(body.statusCode).send(body);
  });

  await app.register(helmet, { contentSecurityPolicy: false });
  if (config.roles.api) {
    // CSV uploads (campaign contacts, do-not-call numbers): read as streams by their routes.
    await app.register(multipart, {
      limits: { fileSize: config.campaigns.csvMaxBytes, files: 1 },
    });
  }
  registerHealthRoutes(fastify, app.get(HealthService), API_PREFIX);
  if (config.roles.media) {
    await registerMediaStreamRoute(fastify, app.get(ExotelMediaStreamGateway));
  }
  app.enableCors({ origin: config.corsOrigins, credentials: false });
  app.setGlobalPrefix(API_PREFIX, { exclude: ['docs', 'docs-json'] });
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      stopAtFirstError: false,
    }),
  );
  app.enableShutdownHooks();
  if (config.apiDocsEnabled && config.roles.api) {
    setUpSwagger(app);
  }
  await app.init();
  // Fastify loads plugins (bull-board's among them) on `ready`; load them now so the check
  // below sees every dashboard route, and refuse to run with one that escaped the guard.
  await fastify.ready();
  if (dashboard && !dashboard.guard.guardedRoutes.has(`GET ${dashboard.paths.dashboard}`)) {
    await app.close();
    throw new Error(`The queue dashboard at ${dashboard.paths.dashboard} is not guarded`);
  }
  return app;
}
