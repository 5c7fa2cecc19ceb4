import { ApiProperty } from '@nestjs/swagger';

export class StatusCallbackAck {
  @ApiProperty({ example: true }) received: boolean;
}

export class IncomingCallResponse {
  @ApiProperty({ example: 'sess_in_4f2a9c0d1e2b3a4c5d6e7f80' }) sessionId: string;
  @ApiProperty({ example: '64f8a1b2c3d4e5f6a7b8c9d3' }) callLogId: string;
  @ApiProperty({ example: '64f8a1b2c3d4e5f6a7b8c9d1' }) agentId: string;
  @ApiProperty({
    example: true,
    description: 'false when this CallSid was seen before (same session returned)',
  })
  created: boolean;
}

export class VoicebotUrlResponse {
  @ApiProperty({
    example:
      'wss://voice.example.com/api/v1/telephony/exotel/stream?session=sess_4f2a9c0d1e2b3a4c5d6e7f80&exp=1764600000&sig=...',
    description:
      "The call's media-stream URL: signed for its session, valid for STREAM_URL_TTL_SECONDS",
  })
  url: string;
}
