import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { PageMetaDto } from '../../common/pagination/pagination.js';
import { USER_ROLES, type UserDocument, type UserRole } from '../schemas/user.schema.js';

export class ExotelConfigResponse {
  @ApiProperty({ example: 'EXapikey123' }) apiKey: string;
  @ApiProperty({ example: 'acme1' }) sid: string;
  @ApiProperty({ example: 'api.exotel.com' }) subdomain: string;
  @ApiProperty({ example: true, description: 'The token itself is never returned.' })
  apiTokenSet: boolean;
}

export class UserResponse {
  @ApiProperty({ example: '64f8a1b2c3d4e5f6a7b8c9d0' }) id: string;
  @ApiProperty({ example: 'user@example.com' }) email: string;
  @ApiProperty({ example: 'John Doe' }) name: string;
  @ApiProperty({ enum: USER_ROLES, example: 'user' }) role: UserRole;
  @ApiProperty({ example: 100.5 }) credits: number;
  @ApiProperty({ example: true }) isActive: boolean;
  @ApiPropertyOptional({ type: ExotelConfigResponse, nullable: true })
  exotelConfig: ExotelConfigResponse | null;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  lastLoginAt: Date | null;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt: Date;
  @ApiProperty({ type: String, format: 'date-time' }) updatedAt: Date;
}

export class UserPageResponse {
  @ApiProperty({ type: [UserResponse] }) data: UserResponse[];
  @ApiProperty({ type: PageMetaDto }) meta: PageMetaDto;
}

/** The public face of a user: no password, no `_id`, no Exotel token, no webhook secret. */
export function toUserResponse(user: UserDocument): UserResponse {
  return {
    id: user._id.toString(),
    email: user.email,
    name: user.name,
    role: user.role,
    credits: user.credits,
    isActive: user.isActive,
    exotelConfig: user.exotelConfig
      ? {
          apiKey: user.exotelConfig.apiKey,
          sid: user.exotelConfig.sid,
          subdomain: user.exotelConfig.subdomain,
          apiTokenSet: Boolean(user.exotelConfig.apiToken),
        }
      : null,
    lastLoginAt: user.lastLoginAt ?? null,
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
  };
}
