import { ApiProperty } from '@nestjs/swagger';
import { UserResponse } from '../../users/dto/user.response.js';

export class AuthResponse {
  @ApiProperty({
    example: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...',
    description: 'Send as "Authorization: Bearer <token>"',
  })
  accessToken: string;

  @ApiProperty({ type: UserResponse })
  user: UserResponse;
}
