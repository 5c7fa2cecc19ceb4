import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import { SkipThrottle } from '@nestjs/throttler';
import {
  ApiBadRequestResponse,
  ApiGoneResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiQuery,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { Public } from '../common/decorators/public.decorator.js';
import { ParseObjectIdPipe } from '../common/pipes/parse-object-id.pipe.js';
import {
  IncomingCallResponse,
  StatusCallbackAck,
  VoicebotUrlResponse,
} from './dto/telephony.response.js';
import { TelephonyService } from './telephony.service.js';

/** Called by Exotel, authenticated by URL secrets instead of bearer tokens. */
@ApiTags('telephony')
@Public()
@SkipThrottle()
@Controller('telephony/exotel')
export class TelephonyController {
  constructor(private readonly telephonyService: TelephonyService) {}

  @Post('status/:callLogId')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Exotel StatusCallback (JSON or form); acknowledged at once, processed by the queue',
  })
  @ApiQuery({ name: 'exp', description: 'Expiry of the signature (Unix seconds), issued with it' })
  @ApiQuery({ name: 'sig', description: 'Signature of the call id and exp, issued with the call' })
  @ApiOkResponse({ type: StatusCallbackAck })
  @ApiUnauthorizedResponse({ description: 'Missing, invalid or expired signature' })
  @ApiBadRequestResponse({
    description: 'No or unknown Status, or a Duration that is not a number of seconds',
  })
  status(
    @Param('callLogId', ParseObjectIdPipe) callLogId: string,
    @Query('exp') expiry: string | undefined,
    @Query('sig') signature: string | undefined,
    @Body() body: unknown,
  ): Promise<StatusCallbackAck> {
    return this.telephonyService.acceptStatusCallback(callLogId, expiry, signature, body);
  }

  @Get('incoming/:webhookToken')
  @ApiOperation({ summary: 'Inbound call from a Passthru/Connect applet (query parameters)' })
  @ApiOkResponse({ type: IncomingCallResponse })
  @ApiUnauthorizedResponse({ description: 'Unknown webhook token' })
  @ApiNotFoundResponse({
    description: 'No active number with an active agent: the flow takes its failure branch',
  })
  incomingByGet(
    @Param('webhookToken') webhookToken: string,
    @Query() query: Record<string, unknown>,
  ): Promise<IncomingCallResponse> {
    return this.telephonyService.acceptIncomingCall(webhookToken, query);
  }

  @Post('incoming/:webhookToken')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Inbound call from a Passthru/Connect applet (form or JSON body)' })
  @ApiOkResponse({ type: IncomingCallResponse })
  incomingByPost(
    @Param('webhookToken') webhookToken: string,
    @Query() query: Record<string, unknown>,
    @Body() body: unknown,
  ): Promise<IncomingCallResponse> {
    return this.telephonyService.acceptIncomingCall(webhookToken, {
      ...query,
      ...(typeof body === 'object' ? body : {}),
    });
  }

  @Get('voicebot/:webhookToken')
  @ApiOperation({
    summary:
      "The Voicebot applet's dynamic URL (query parameters): the call's signed media-stream URL",
  })
  @ApiOkResponse({ type: VoicebotUrlResponse })
  @ApiUnauthorizedResponse({ description: 'Unknown webhook token' })
  @ApiNotFoundResponse({ description: 'No live call of this account has that CallSid' })
  @ApiGoneResponse({ description: 'The call has ended' })
  voicebotByGet(
    @Param('webhookToken') webhookToken: string,
    @Query() query: Record<string, unknown>,
  ): Promise<VoicebotUrlResponse> {
    return this.telephonyService.voicebotStreamUrl(webhookToken, query);
  }

  @Post('voicebot/:webhookToken')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary:
      "The Voicebot applet's dynamic URL (form or JSON body): the call's signed media-stream URL",
  })
  @ApiOkResponse({ type: VoicebotUrlResponse })
  voicebotByPost(
    @Param('webhookToken') webhookToken: string,
    @Query() query: Record<string, unknown>,
    @Body() body: unknown,
  ): Promise<VoicebotUrlResponse> {
    return this.telephonyService.voicebotStreamUrl(webhookToken, {
      ...query,
      ...(typeof body === 'object' ? body : {}),
    });
  }
}
