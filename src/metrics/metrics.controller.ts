import { Controller, Get, Header, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { Probe } from '../common/decorators/probe.decorator.js';
import { MetricsTokenGuard } from './metrics-token.guard.js';
import { MetricsService } from './metrics.service.js';

@ApiTags('ops')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metricsService: MetricsService) {}

  @Get()
  // Not a user's bearer token: the scraper's own (MetricsTokenGuard).
  @Probe()
  @UseGuards(MetricsTokenGuard)
  @ApiBearerAuth()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics (bearer METRICS_TOKEN)' })
  @ApiOkResponse({ description: 'Prometheus text format', type: String })
  @ApiUnauthorizedResponse({ description: 'Missing or wrong METRICS_TOKEN' })
  @ApiNotFoundResponse({ description: 'METRICS_TOKEN is not set: metrics are disabled' })
  metrics(): Promise<string> {
    return this.metricsService.render();
  }
}
