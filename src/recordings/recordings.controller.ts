import { Body, Controller, Get, Inject, Param, Put, Res, StreamableFile } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiConflictResponse,
  ApiGoneResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import {
  type AuthenticatedUser,
  CurrentUser,
} from '../common/decorators/current-user.decorator.js';
import { ParseObjectIdPipe } from '../common/pipes/parse-object-id.pipe.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { RecordingsService } from './recordings.service.js';
import {
  RecordingLinkResponse,
  RecordingRetentionResponse,
  UpdateRecordingRetentionDto,
} from './recordings.dto.js';

@ApiTags('calls')
@ApiBearerAuth()
@Controller()
export class RecordingsController {
  constructor(
    private readonly recordings: RecordingsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('calls/:id/recording')
  @ApiOperation({
    summary:
      "The call's recording (our copy): with S3 storage a short-lived signed download URL " +
      '(JSON); with local storage the audio itself',
  })
  @ApiProduces('application/json', 'audio/mpeg', 'audio/wav')
  @ApiOkResponse({ type: RecordingLinkResponse })
  @ApiNotFoundResponse({
    description: 'No such call of yours (CALL_NOT_FOUND); no recording (RECORDING_NOT_AVAILABLE)',
  })
  @ApiConflictResponse({
    description: 'The copy from the carrier is under way (RECORDING_PENDING)',
  })
  @ApiGoneResponse({ description: 'Deleted after the retention period (RECORDING_DELETED)' })
  async recording(
    @CurrentUser() user: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<RecordingLinkResponse | StreamableFile> {
    const access = await this.recordings.access(user.userId, id);
    if (access.kind === 'link') {
      reply.header('cache-control', 'no-store');
      return access.link;
    }
    reply.header('cache-control', 'private, no-store');
    return new StreamableFile(access.body, {
      type: access.contentType,
      length: access.size,
      disposition: `attachment; filename="${access.fileName}"`,
    });
  }

  @Get('users/me/recording-retention')
  @ApiTags('users')
  @ApiOperation({ summary: 'How long our copies of your call recordings are kept' })
  @ApiOkResponse({ type: RecordingRetentionResponse })
  retention(@CurrentUser() user: AuthenticatedUser): Promise<RecordingRetentionResponse> {
    return this.recordings.retention(user.userId);
  }

  @Put('users/me/recording-retention')
  @ApiTags('users')
  @ApiOperation({
    summary:
      'Set how long our copies of your call recordings are kept (1-3650 days, null for the ' +
      'default); older copies are deleted by the next daily run',
  })
  @ApiOkResponse({ type: RecordingRetentionResponse })
  setRetention(
    @CurrentUser() user: AuthenticatedUser,
    @Body() dto: UpdateRecordingRetentionDto,
  ): Promise<RecordingRetentionResponse> {
    return this.recordings.setRetention(user.userId, dto.days);
  }
}
