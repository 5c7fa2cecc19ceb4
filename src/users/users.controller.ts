import { Body, Controller, Get, HttpCode, HttpStatus, Post, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  type AuthenticatedUser,
  CurrentUser,
} from '../common/decorators/current-user.decorator.js';
import { UpdateExotelConfigDto } from './dto/update-exotel-config.dto.js';
import { UserResponse } from './dto/user.response.js';
import { WebhooksResponse } from './dto/webhooks.response.js';
import { UsersService } from './users.service.js';

@ApiTags('users')
@ApiBearerAuth()
@Controller('users/me')
export class UsersController {
  constructor(private readonly usersService: UsersService) {}

  @Put('exotel-config')
  @ApiOperation({ summary: 'Set the Exotel credentials used to place and receive calls' })
  @ApiOkResponse({ type: UserResponse })
  updateExotelConfig(
    @CurrentUser() user: AuthenticatedUser,
    @Body() dto: UpdateExotelConfigDto,
  ): Promise<UserResponse> {
    return this.usersService.updateExotelConfig(user.userId, dto);
  }

  @Get('webhooks')
  @ApiOperation({ summary: 'The webhook URLs to configure in Exotel' })
  @ApiOkResponse({ type: WebhooksResponse })
  getWebhooks(@CurrentUser() user: AuthenticatedUser): Promise<WebhooksResponse> {
    return this.usersService.getWebhooks(user.userId);
  }

  @Post('webhooks/rotate')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Replace the inbound webhook secret; the old URL stops working at once',
  })
  @ApiOkResponse({ type: WebhooksResponse })
  rotateWebhookToken(@CurrentUser() user: AuthenticatedUser): Promise<WebhooksResponse> {
    return this.usersService.rotateWebhookToken(user.userId);
  }
}
