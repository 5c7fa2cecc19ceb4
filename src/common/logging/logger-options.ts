import type { IncomingMessage } from 'node:http';
import { RequestMethod } from '@nestjs/common';
import type { DestinationStream } from 'pino';
import type { Params } from 'nestjs-pino';
import type { AppConfig } from '../../config/app-config.js';

/** Paths never written to logs, wherever they appear in a logged object. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'password',
  '*.password',
  'apiToken',
  '*.apiToken',
  '*.*.apiToken',
  'apiKey',
  '*.apiKey',
  '*.*.apiKey',
  'accessToken',
  '*.accessToken',
  'token',
  '*.token',
];

// Secrets that travel in URLs: the status-callback signature and the inbound webhook token.
export function redactUrl(url: string | undefined): string | undefined {
  return url
    ?.replace(/([?&](?:sig|token)=)[^&]*/gi, '$1[Redacted]')
    .replace(/(\/telephony\/exotel\/incoming\/)[^/?]+/, '$1[Redacted]');
}

export function buildLoggerParams(config: AppConfig, stream?: DestinationStream): Params {
  const options = {
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[Redacted]' },
    // Fastify assigns the id (x-request-id or a UUID) and stores it on the raw request.
    genReqId: (request: IncomingMessage) => request.id,
    customProps: () => ({ service: 'ai-calling-platform' }),
    serializers: {
      req: (request: { id: string; method: string; url: string; remoteAddress?: string }) => ({
        id: request.id,
        method: request.method,
        url: redactUrl(request.url),
        remoteAddress: request.remoteAddress,
      }),
      res: (response: { statusCode: number }) => ({ statusCode: response.statusCode }),
    },
  };
  return {
    pinoHttp: stream ? [options, stream] : options,
    // Probes and scrapes are frequent and uninteresting: no request logger for them at all.
    exclude: [
      { method: RequestMethod.GET, path: 'health' },
      { method: RequestMethod.GET, path: 'health/ready' },
      { method: RequestMethod.GET, path: 'metrics' },
    ],
  };
}
