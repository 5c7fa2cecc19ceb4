import { Readable } from 'node:stream';
import {
  Body,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Post,
  Query,
  Req,
  StreamableFile,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiConsumes,
  ApiCreatedResponse,
  ApiExtraModels,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiProduces,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import {
  type AuthenticatedUser,
  CurrentUser,
} from '../common/decorators/current-user.decorator.js';
import type { Page } from '../common/pagination/pagination.js';
import { ParseObjectIdPipe } from '../common/pipes/parse-object-id.pipe.js';
import { CampaignContactsService } from './campaign-contacts.service.js';
import { CampaignsService, type OwnerMove } from './campaigns.service.js';
import { csvUpload, validatedBody } from './csv-upload.js';
import {
  AddContactsDto,
  CampaignDetailResponse,
  CampaignPageResponse,
  CampaignResponse,
  ContactImportResponse,
  ContactPageResponse,
  ContactResponse,
  CreateCampaignDto,
  ListCampaignsQueryDto,
  ListContactsQueryDto,
} from './dto/campaign.dto.js';

@ApiTags('campaigns')
@ApiBearerAuth()
@Controller('campaigns')
export class CampaignsController {
  constructor(
    private readonly campaigns: CampaignsService,
    private readonly contacts: CampaignContactsService,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Create a campaign (draft): add contacts, then start it' })
  @ApiCreatedResponse({ type: CampaignResponse })
  @ApiBadRequestResponse({ description: 'Invalid body or schedule (CAMPAIGN_INVALID_SCHEDULE)' })
  @ApiNotFoundResponse({ description: 'Agent or phone not yours' })
  create(
    @CurrentUser() user: AuthenticatedUser,
    @Body() dto: CreateCampaignDto,
  ): Promise<CampaignResponse> {
    return this.campaigns.create(user.userId, dto);
  }

  @Get()
  @ApiOperation({ summary: 'Your campaigns, newest first' })
  @ApiOkResponse({ type: CampaignPageResponse })
  list(
    @CurrentUser() user: AuthenticatedUser,
    @Query() query: ListCampaignsQueryDto,
  ): Promise<Page<CampaignResponse>> {
    return this.campaigns.list(user.userId, query);
  }

  @Get(':id')
  @ApiOperation({
    summary: 'A campaign with its progress: contacts by state, calls in flight, cost, ETA',
  })
  @ApiOkResponse({ type: CampaignDetailResponse })
  @ApiNotFoundResponse()
  get(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
  ): Promise<CampaignDetailResponse> {
    return this.campaigns.get(user.userId, id);
  }

  @Post(':id/start')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'draft -> scheduled (running from schedule.startAt)' })
  @ApiOkResponse({ type: CampaignDetailResponse })
  @ApiConflictResponse({ description: 'Not a draft, or no contacts' })
  start(@CurrentUser() user: AuthenticatedUser, @Param('id', ParseObjectIdPipe) id: string) {
    return this.move(user, id, 'start');
  }

  @Post(':id/pause')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Stop starting calls (calls under way finish)' })
  @ApiOkResponse({ type: CampaignDetailResponse })
  @ApiConflictResponse({ description: 'Not scheduled or running' })
  pause(@CurrentUser() user: AuthenticatedUser, @Param('id', ParseObjectIdPipe) id: string) {
    return this.move(user, id, 'pause');
  }

  @Post(':id/resume')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Start calling again after a pause (yours or the platform’s)' })
  @ApiOkResponse({ type: CampaignDetailResponse })
  @ApiConflictResponse({ description: 'Not paused' })
  resume(@CurrentUser() user: AuthenticatedUser, @Param('id', ParseObjectIdPipe) id: string) {
    return this.move(user, id, 'resume');
  }

  @Post(':id/cancel')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'End the campaign: waiting contacts are canceled, calls under way finish',
  })
  @ApiOkResponse({ type: CampaignDetailResponse })
  @ApiConflictResponse({ description: 'Completed or canceled already' })
  cancel(@CurrentUser() user: AuthenticatedUser, @Param('id', ParseObjectIdPipe) id: string) {
    return this.move(user, id, 'cancel');
  }

  @Post(':id/contacts')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary:
      'Add contacts: JSON (at most 1000) or a CSV upload (multipart, one file; a `phone` column, ' +
      'every other column a variable). Numbers are normalised to E.164 (Indian numbers may be ' +
      'written as dialled locally); duplicates are dropped, numbers on your do-not-call list ' +
      'skipped; the answer counts each and lists invalid rows with the reason',
  })
  @ApiConsumes('application/json', 'multipart/form-data')
  @ApiExtraModels(AddContactsDto)
  @ApiBody({
    schema: {
      oneOf: [
        { $ref: getSchemaPath(AddContactsDto) },
        {
          type: 'object',
          properties: { file: { type: 'string', format: 'binary' } },
          required: ['file'],
        },
      ],
    },
  })
  @ApiOkResponse({ type: ContactImportResponse })
  @ApiBadRequestResponse({ description: 'Invalid JSON body, or a CSV without a usable header' })
  @ApiConflictResponse({ description: 'The campaign is completed or canceled' })
  @ApiPayloadTooLargeResponse({ description: 'CSV over CAMPAIGN_CSV_MAX_BYTES' })
  async addContacts(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
    @Req() request: FastifyRequest,
  ): Promise<ContactImportResponse> {
    if (request.isMultipart()) {
      await this.campaigns.owned(user.userId, id);
      const upload = await csvUpload(request, this.contacts.csvMaxBytes);
      return this.contacts.addCsv(user.userId, id, upload);
    }
    return this.contacts.addJson(user.userId, id, await validatedBody(request, AddContactsDto));
  }

  @Get(':id/contacts')
  @ApiOperation({ summary: "The campaign's contacts with their results, in import order" })
  @ApiOkResponse({ type: ContactPageResponse })
  @ApiNotFoundResponse()
  listContacts(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
    @Query() query: ListContactsQueryDto,
  ): Promise<Page<ContactResponse>> {
    return this.contacts.list(user.userId, id, query);
  }

  @Get(':id/export')
  @ApiOperation({
    summary:
      'Every contact with its result as CSV: phone, state, attempts, last_status, last_error, ' +
      'cost, call_id, finished_at, row, variables (JSON)',
  })
  @ApiProduces('text/csv')
  @ApiOkResponse({ description: 'The CSV' })
  @ApiNotFoundResponse()
  async export(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
  ): Promise<StreamableFile> {
    const lines = await this.contacts.exportCsv(user.userId, id);
    return new StreamableFile(Readable.from(lines), {
      type: 'text/csv; charset=utf-8',
      disposition: `attachment; filename="campaign-${id}.csv"`,
    });
  }

  private move(user: AuthenticatedUser, id: string, move: OwnerMove) {
    return this.campaigns.move(user.userId, id, move);
  }
}
