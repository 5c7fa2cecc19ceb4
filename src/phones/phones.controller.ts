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
import {
  CreatePhoneDto,
  EffectiveConfigResponse,
  ListPhonesQueryDto,
  PhonePageResponse,
  PhoneResponse,
  UpdatePhoneDto,
} from './dto/phone.dto.js';
import { PhonesService } from './phones.service.js';

@ApiTags('phones')
@ApiBearerAuth()
@Controller('phones')
export class PhonesController {
  constructor(private readonly phonesService: PhonesService) {}

  @Post()
  @ApiOperation({ summary: 'Register an Exotel phone number' })
  @ApiCreatedResponse({ type: PhoneResponse })
  @ApiConflictResponse({ description: 'Number already registered' })
  create(
    @CurrentUser() user: AuthenticatedUser,
    @Body() dto: CreatePhoneDto,
  ): Promise<PhoneResponse> {
    return this.phonesService.create(user.userId, dto);
  }

  @Get()
  @ApiOperation({ summary: 'List your phone numbers (filter status, tag, agentId)' })
  @ApiOkResponse({ type: PhonePageResponse })
  @SendsJsonText()
  list(
    @CurrentUser() user: AuthenticatedUser,
    @Query() query: ListPhonesQueryDto,
  ): Promise<JsonText<Page<PhoneResponse>>> {
    return this.phonesService.list(user.userId, query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get one phone number' })
  @ApiOkResponse({ type: PhoneResponse })
  @ApiNotFoundResponse()
  get(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
  ): Promise<PhoneResponse> {
    return this.phonesService.get(user.userId, id);
  }

  @Get(':id/effective-config')
  @ApiOperation({
    summary: "The agent config calls on this number use (agent config + the phone's override)",
  })
  @ApiOkResponse({ type: EffectiveConfigResponse })
  @ApiConflictResponse({ description: 'No agent assigned' })
  effectiveConfig(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
  ): Promise<EffectiveConfigResponse> {
    return this.phonesService.effectiveConfig(user.userId, id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Update a phone number (agentId null unassigns)' })
  @ApiOkResponse({ type: PhoneResponse })
  update(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
    @Body() dto: UpdatePhoneDto,
  ): Promise<PhoneResponse> {
    return this.phonesService.update(user.userId, id, dto);
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Remove a phone number' })
  @ApiNoContentResponse()
  remove(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
  ): Promise<void> {
    return this.phonesService.remove(user.userId, id);
  }
}
