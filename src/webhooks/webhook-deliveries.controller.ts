import { Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import {
  type AuthenticatedUser,
  CurrentUser,
} from '../common/decorators/current-user.decorator.js';
import type { Page } from '../common/pagination/pagination.js';
import { ParseObjectIdPipe } from '../common/pipes/parse-object-id.pipe.js';
import {
  ListDeliveriesQueryDto,
  WebhookDeliveryPageResponse,
  WebhookDeliveryResponse,
  WebhookDeliveryWithBodyResponse,
} from './dto/webhook.dto.js';
import { WebhookDeliveriesService } from './webhook-deliveries.service.js';

@ApiTags('webhooks')
@ApiBearerAuth()
@Controller('webhooks/deliveries')
export class WebhookDeliveriesController {
  constructor(private readonly deliveries: WebhookDeliveriesService) {}

  @Get()
  @ApiOperation({
    summary: 'The delivery log (30 days), newest first: filter by endpointId, event and status',
  })
  @ApiOkResponse({ type: WebhookDeliveryPageResponse })
  list(
    @CurrentUser() user: AuthenticatedUser,
    @Query() query: ListDeliveriesQueryDto,
  ): Promise<Page<WebhookDeliveryResponse>> {
    return this.deliveries.list(user.userId, query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One delivery, with the body it sends' })
  @ApiOkResponse({ type: WebhookDeliveryWithBodyResponse })
  @ApiNotFoundResponse()
  get(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
  ): Promise<WebhookDeliveryWithBodyResponse> {
    return this.deliveries.get(user.userId, id);
  }

  @Post(':id/redeliver')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary:
      'Send a delivered or failed delivery again (same webhook-id and body, new signature): one attempt, queued now',
  })
  @ApiOkResponse({ type: WebhookDeliveryResponse })
  @ApiNotFoundResponse()
  @ApiConflictResponse({
    description:
      'Still pending (WEBHOOK_DELIVERY_IN_PROGRESS) or the endpoint is disabled (WEBHOOK_ENDPOINT_DISABLED)',
  })
  redeliver(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
  ): Promise<WebhookDeliveryResponse> {
    return this.deliveries.redeliver(user.userId, id);
  }
}
