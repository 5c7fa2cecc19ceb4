import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Patch,
  Post,
  Query,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import {
  type AuthenticatedUser,
  CurrentUser,
} from '../common/decorators/current-user.decorator.js';
import { type Page, PaginationQueryDto } from '../common/pagination/pagination.js';
import { ParseObjectIdPipe } from '../common/pipes/parse-object-id.pipe.js';
import {
  CreateWebhookEndpointDto,
  UpdateWebhookEndpointDto,
  WebhookDeliveryWithBodyResponse,
  WebhookEndpointPageResponse,
  WebhookEndpointResponse,
  WebhookEndpointWithSecretResponse,
} from './dto/webhook.dto.js';
import { WebhookEndpointsService } from './webhook-endpoints.service.js';

@ApiTags('webhooks')
@ApiBearerAuth()
@Controller('webhooks/endpoints')
export class WebhookEndpointsController {
  constructor(private readonly endpoints: WebhookEndpointsService) {}

  @Post()
  @ApiOperation({
    summary:
      'Add an endpoint for call events; the answer holds its signing secret, shown only this once',
  })
  @ApiCreatedResponse({ type: WebhookEndpointWithSecretResponse })
  @ApiBadRequestResponse({
    description: 'Invalid body, or a URL refused (scheme, credentials, private address)',
  })
  @ApiConflictResponse({ description: 'Endpoint limit reached (WEBHOOK_TOO_MANY_ENDPOINTS)' })
  create(
    @CurrentUser() user: AuthenticatedUser,
    @Body() dto: CreateWebhookEndpointDto,
  ): Promise<WebhookEndpointWithSecretResponse> {
    return this.endpoints.create(user.userId, dto);
  }

  @Get()
  @ApiOperation({ summary: 'Your webhook endpoints, newest first' })
  @ApiOkResponse({ type: WebhookEndpointPageResponse })
  list(
    @CurrentUser() user: AuthenticatedUser,
    @Query() query: PaginationQueryDto,
  ): Promise<Page<WebhookEndpointResponse>> {
    return this.endpoints.list(user.userId, query);
  }

  @Get(':id')
  @ApiOkResponse({ type: WebhookEndpointResponse })
  @ApiNotFoundResponse()
  get(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
  ): Promise<WebhookEndpointResponse> {
    return this.endpoints.get(user.userId, id);
  }

  @Patch(':id')
  @ApiOperation({
    summary: 'Change the URL, events, agent filter or description; enable or disable',
  })
  @ApiOkResponse({ type: WebhookEndpointResponse })
  @ApiNotFoundResponse()
  update(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
    @Body() dto: UpdateWebhookEndpointDto,
  ): Promise<WebhookEndpointResponse> {
    return this.endpoints.update(user.userId, id, dto);
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse()
  @ApiNotFoundResponse()
  async remove(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
  ): Promise<void> {
    await this.endpoints.remove(user.userId, id);
  }

  @Post(':id/rotate-secret')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary:
      'A new signing secret, shown only this once; for 24 hours deliveries carry signatures by both',
  })
  @ApiOkResponse({ type: WebhookEndpointWithSecretResponse })
  @ApiNotFoundResponse()
  rotateSecret(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
  ): Promise<WebhookEndpointWithSecretResponse> {
    return this.endpoints.rotateSecret(user.userId, id);
  }

  @Post(':id/test')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Send a signed `ping` now (one attempt) and answer with its delivery record',
  })
  @ApiOkResponse({ type: WebhookDeliveryWithBodyResponse })
  @ApiNotFoundResponse()
  @ApiConflictResponse({ description: 'The endpoint is disabled (WEBHOOK_ENDPOINT_DISABLED)' })
  test(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
  ): Promise<WebhookDeliveryWithBodyResponse> {
    return this.endpoints.ping(user.userId, id);
  }
}
