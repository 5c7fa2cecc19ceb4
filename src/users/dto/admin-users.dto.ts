import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsNumber,
  IsOptional,
  IsString,
  Length,
  Max,
  Min,
  NotEquals,
} from 'class-validator';
import { PaginationQueryDto } from '../../common/pagination/pagination.js';
import { toBoolean } from '../../common/validators/to-boolean.js';
import { USER_ROLES, type UserRole } from '../schemas/user.schema.js';

export class ListUsersQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ enum: USER_ROLES })
  @IsOptional()
  @IsIn(USER_ROLES)
  role?: UserRole;

  @ApiPropertyOptional({ type: Boolean })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'isActive must be true or false' })
  isActive?: boolean;

  @ApiPropertyOptional({ description: 'Email prefix, case-insensitive', example: 'jane' })
  @IsOptional()
  @IsString()
  @Length(1, 254)
  email?: string;
}

export class UpdateUserByAdminDto {
  @ApiPropertyOptional({ enum: USER_ROLES })
  @IsOptional()
  @IsIn(USER_ROLES)
  role?: UserRole;

  @ApiPropertyOptional({ example: false })
  @IsOptional()
  @IsBoolean()
  isActive?: boolean;
}

export class AdjustCreditsDto {
  @ApiProperty({
    example: 50,
    description: 'Credits to add; negative to remove. The balance never goes below 0.',
  })
  @IsNumber({ allowNaN: false, allowInfinity: false, maxDecimalPlaces: 4 })
  @NotEquals(0)
  @Min(-1_000_000)
  @Max(1_000_000)
  amount: number;

  @ApiProperty({ example: 'Monthly top-up', minLength: 1, maxLength: 200 })
  @IsString()
  @Length(1, 200)
  reason: string;
}
