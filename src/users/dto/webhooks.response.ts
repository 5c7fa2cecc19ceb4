import { ApiProperty } from '@nestjs/swagger';

export class WebhooksResponse {
  @ApiProperty({
    example: 'https://voice.example.com/api/v1/telephony/exotel/incoming/Zx3...',
    description: 'Paste into the Passthru or Connect applet of your Exotel flow (GET or POST).',
  })
  incomingCallUrl: string;

  @ApiProperty({
    example:
      'https://voice.example.com/api/v1/telephony/exotel/status/{callLogId}?exp={expiry}&sig={signature}',
    description:
      'Status callbacks are signed per call and set by the platform when it places a call.',
  })
  statusCallbackUrlPattern: string;
}
