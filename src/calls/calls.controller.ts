import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPaymentRequiredResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import {
  type AuthenticatedUser,
  CurrentUser,
} from '../common/decorators/current-user.decorator.js';
import type { Page } from '../common/pagination/pagination.js';
import { ParseObjectIdPipe } from '../common/pipes/parse-object-id.pipe.js';
import { CallStatsService } from './call-stats.service.js';
import { CallsService } from './calls.service.js';
import {
  CallLogResponse,
  CallPageResponse,
  CallStatsQueryDto,
  CallStatsResponse,
  CreateCallDto,
  ListCallsQueryDto,
} from './dto/call.dto.js';

@ApiTags('calls')
@ApiBearerAuth()
@Controller('calls')
export class CallsController {
  constructor(
    private readonly callsService: CallsService,
    private readonly callStatsService: CallStatsService,
  ) {}

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({ summary: 'Place an outbound call; answered at once, placed by a worker' })
  @ApiAcceptedResponse({ type: CallLogResponse })
  @ApiPaymentRequiredResponse({ description: 'No credits left' })
  @ApiTooManyRequestsResponse({
    description: 'Outbound rate limit or concurrent call limit reached',
  })
  @ApiConflictResponse({ description: 'Phone or agent inactive, phone not configured for Exotel' })
  create(
    @CurrentUser() user: AuthenticatedUser,
    @Body() dto: CreateCallDto,
  ): Promise<CallLogResponse> {
    return this.callsService.placeOutbound(user.userId, dto);
  }

  @Get()
  @ApiOperation({
    summary: 'Your calls, newest first (filters: status, direction, agentId, phone, from, to)',
  })
  @ApiOkResponse({ type: CallPageResponse })
  list(
    @CurrentUser() user: AuthenticatedUser,
    @Query() query: ListCallsQueryDto,
  ): Promise<Page<CallLogResponse>> {
    return this.callsService.list(user.userId, query);
  }

  @Get('stats')
  @ApiOperation({
    summary: 'Call counts, durations, cost and success rate per day, agent or status',
  })
  @ApiOkResponse({ type: CallStatsResponse })
  stats(
    @CurrentUser() user: AuthenticatedUser,
    @Query() query: CallStatsQueryDto,
  ): Promise<CallStatsResponse> {
    return this.callStatsService.stats(user.userId, query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One call with transcript, cost and error' })
  @ApiOkResponse({ type: CallLogResponse })
  @ApiNotFoundResponse()
  get(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
  ): Promise<CallLogResponse> {
    return this.callsService.get(user.userId, id);
  }

  @Post(':id/hangup')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary:
      'End a call: one not yet sent to Exotel is canceled; one Exotel has is ended at the carrier when it allows (status then follows its final callback)',
  })
  @ApiOkResponse({ type: CallLogResponse })
  @ApiConflictResponse({
    description:
      'Already ended (CALL_ALREADY_ENDED); connect request in flight (CALL_PLACEMENT_IN_PROGRESS); the carrier cannot end this call (CALL_HANGUP_UNSUPPORTED)',
  })
  hangup(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
  ): Promise<CallLogResponse> {
    return this.callsService.hangup(user.userId, id);
  }
}
