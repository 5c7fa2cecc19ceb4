import { Controller, Get, Param, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
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
import {
  ConversationMessagePageResponse,
  ListSessionsQueryDto,
  SessionIdParamDto,
  SessionPageResponse,
  SessionResponse,
} from './dto/session.dto.js';
import type { ConversationMessage } from './schemas/session.schema.js';
import { SessionsService } from './sessions.service.js';

@ApiTags('sessions')
@ApiBearerAuth()
@Controller('sessions')
export class SessionsController {
  constructor(private readonly sessionsService: SessionsService) {}

  @Get()
  @ApiOperation({ summary: 'List your call sessions (filter status); histories omitted' })
  @ApiOkResponse({ type: SessionPageResponse })
  list(
    @CurrentUser() user: AuthenticatedUser,
    @Query() query: ListSessionsQueryDto,
  ): Promise<Page<SessionResponse>> {
    return this.sessionsService.list(user.userId, query);
  }

  @Get(':sessionId/messages')
  @ApiOperation({
    summary: 'Every turn of a session, oldest first (the session itself keeps the latest 50)',
  })
  @ApiOkResponse({ type: ConversationMessagePageResponse })
  @ApiNotFoundResponse()
  messages(
    @CurrentUser() user: AuthenticatedUser,
    @Param() params: SessionIdParamDto,
    @Query() query: PaginationQueryDto,
  ): Promise<Page<ConversationMessage>> {
    return this.sessionsService.messagesForUser(user.userId, params.sessionId, query);
  }

  @Get(':sessionId')
  @ApiOperation({ summary: 'One session with its conversation (Redis first, MongoDB fallback)' })
  @ApiOkResponse({ type: SessionResponse })
  @ApiNotFoundResponse()
  get(
    @CurrentUser() user: AuthenticatedUser,
    @Param() params: SessionIdParamDto,
  ): Promise<SessionResponse> {
    return this.sessionsService.getForUser(user.userId, params.sessionId);
  }
}
