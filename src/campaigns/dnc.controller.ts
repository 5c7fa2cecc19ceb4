import {
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Post,
  Query,
  Req,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiExtraModels,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import {
  type AuthenticatedUser,
  CurrentUser,
} from '../common/decorators/current-user.decorator.js';
import { type Page, PaginationQueryDto } from '../common/pagination/pagination.js';
import { csvUpload, validatedBody } from './csv-upload.js';
import { DncService } from './dnc.service.js';
import { AddDncDto, DncEntryResponse, DncImportResponse, DncPageResponse } from './dto/dnc.dto.js';

@ApiTags('campaigns')
@ApiBearerAuth()
@Controller('dnc')
export class DncController {
  constructor(private readonly dnc: DncService) {}

  @Post()
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary:
      'Add numbers to your do-not-call list: JSON (at most 1000) or a CSV upload (multipart, a ' +
      '`phone` column; an optional `reason` field before the file). Your campaigns never call ' +
      'them from then on (waiting contacts with them are blocked at once)',
  })
  @ApiConsumes('application/json', 'multipart/form-data')
  @ApiExtraModels(AddDncDto)
  @ApiBody({
    schema: {
      oneOf: [
        { $ref: getSchemaPath(AddDncDto) },
        {
          type: 'object',
          properties: { reason: { type: 'string' }, file: { type: 'string', format: 'binary' } },
          required: ['file'],
        },
      ],
    },
  })
  @ApiOkResponse({ type: DncImportResponse })
  @ApiBadRequestResponse({ description: 'Invalid body, or a CSV without a `phone` column' })
  @ApiPayloadTooLargeResponse({ description: 'CSV over CAMPAIGN_CSV_MAX_BYTES' })
  async add(
    @CurrentUser() user: AuthenticatedUser,
    @Req() request: FastifyRequest,
  ): Promise<DncImportResponse> {
    if (request.isMultipart()) {
      const upload = await csvUpload(request, this.dnc.csvMaxBytes);
      const reason = upload.fields.reason?.trim().slice(0, 200) || undefined;
      return this.dnc.addCsv(user.userId, upload, reason);
    }
    return this.dnc.add(user.userId, await validatedBody(request, AddDncDto));
  }

  @Get()
  @ApiOperation({ summary: 'Your do-not-call list, newest first' })
  @ApiOkResponse({ type: DncPageResponse })
  list(
    @CurrentUser() user: AuthenticatedUser,
    @Query() query: PaginationQueryDto,
  ): Promise<Page<DncEntryResponse>> {
    return this.dnc.list(user.userId, query);
  }

  @Delete(':phone')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Take a number off the list (E.164, URL-encoded: %2B for +)' })
  @ApiNoContentResponse()
  @ApiBadRequestResponse({ description: 'Not a phone number' })
  @ApiNotFoundResponse({ description: 'Not on your list' })
  async remove(
    @CurrentUser() user: AuthenticatedUser,
    @Param('phone') phone: string,
  ): Promise<void> {
    await this.dnc.remove(user.userId, phone);
  }
}
