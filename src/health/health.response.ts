import { ApiProperty } from '@nestjs/swagger';

export class LivenessResponse {
  @ApiProperty({ example: 'ok' }) status: 'ok';
  @ApiProperty({ example: 12.5, description: 'Seconds since the process started' })
  uptimeSeconds: number;
}

export class ReadinessResponse {
  @ApiProperty({ enum: ['ok', 'error'], example: 'ok' }) status: 'ok' | 'error';
  @ApiProperty({ example: { mongodb: 'up', redis: 'up' } }) checks: Record<
    'mongodb' | 'redis',
    'up' | 'down'
  >;
  @ApiProperty({
    type: [String],
    example: [],
    description: 'Names of the dependencies that are down',
  })
  down: string[];
}
