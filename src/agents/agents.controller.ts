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
import { type JsonText, SendsJsonText } from '../common/decorators/json-text.decorator.js';
import type { Page } from '../common/pagination/pagination.js';
import { ParseObjectIdPipe } from '../common/pipes/parse-object-id.pipe.js';
import { AgentsService } from './agents.service.js';
import {
  AgentPageResponse,
  AgentResponse,
  CreateAgentDto,
  ListAgentsQueryDto,
  UpdateAgentDto,
} from './dto/agent.dto.js';

@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents')
export class AgentsController {
  constructor(private readonly agentsService: AgentsService) {}

  @Post()
  @ApiOperation({ summary: 'Create an AI voice agent' })
  @ApiCreatedResponse({ type: AgentResponse })
  create(
    @CurrentUser() user: AuthenticatedUser,
    @Body() dto: CreateAgentDto,
  ): Promise<AgentResponse> {
    return this.agentsService.create(user.userId, dto);
  }

  @Get()
  @ApiOperation({ summary: 'List your agents, newest first (search q, filter isActive)' })
  @ApiOkResponse({ type: AgentPageResponse })
  @SendsJsonText()
  list(
    @CurrentUser() user: AuthenticatedUser,
    @Query() query: ListAgentsQueryDto,
  ): Promise<JsonText<Page<AgentResponse>>> {
    return this.agentsService.list(user.userId, query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get one agent' })
  @ApiOkResponse({ type: AgentResponse })
  @ApiNotFoundResponse()
  get(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
  ): Promise<AgentResponse> {
    return this.agentsService.get(user.userId, id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Update an agent; config is deep-merged' })
  @ApiOkResponse({ type: AgentResponse })
  @ApiNotFoundResponse()
  update(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
    @Body() dto: UpdateAgentDto,
  ): Promise<AgentResponse> {
    return this.agentsService.update(user.userId, id, dto);
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Delete an agent (409 while phone numbers use it)' })
  @ApiNoContentResponse()
  @ApiConflictResponse({ description: 'Still assigned to phones; lists their numbers' })
  remove(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
  ): Promise<void> {
    return this.agentsService.remove(user.userId, id);
  }
}
