import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  IsBoolean,
  IsDefined,
  IsObject,
  IsOptional,
  IsString,
  Length,
  ValidateNested,
} from 'class-validator';
import { PageMetaDto, PaginationQueryDto } from '../../common/pagination/pagination.js';
import { toBoolean } from '../../common/validators/to-boolean.js';
import { AgentConfigDto, AgentConfigPatchDto } from './agent-config.dto.js';

const trim = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? value.trim() : value;

export class CreateAgentDto {
  @ApiProperty({ minLength: 1, maxLength: 100, example: 'Customer Support Agent' })
  @Transform(trim)
  @IsString()
  @Length(1, 100)
  name: string;

  @ApiProperty({ type: AgentConfigDto })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => AgentConfigDto)
  config: AgentConfigDto;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  isActive?: boolean;
}

export class UpdateAgentDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 100 })
  @IsOptional()
  @Transform(trim)
  @IsString()
  @Length(1, 100)
  name?: string;

  @ApiPropertyOptional({
    type: AgentConfigPatchDto,
    description: 'Deep-merged into the current config',
  })
  @IsOptional()
  @ValidateNested()
  @Type(() => AgentConfigPatchDto)
  config?: AgentConfigPatchDto;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  isActive?: boolean;
}

export class ListAgentsQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ description: 'Search in agent names', example: 'support' })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  q?: string;

  @ApiPropertyOptional({ type: Boolean })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'isActive must be true or false' })
  isActive?: boolean;
}

export class AgentStatsResponse {
  @ApiProperty({ example: 150 }) totalCalls: number;
  @ApiProperty({ example: 45000, description: 'Seconds' }) totalDuration: number;
  @ApiProperty({ example: 300, description: 'Seconds' }) avgDuration: number;
  @ApiProperty({ example: 0.92 }) successRate: number;
}

export class AgentResponse {
  @ApiProperty({ example: '64f8a1b2c3d4e5f6a7b8c9d1' }) id: string;
  @ApiProperty({ example: 'Customer Support Agent' }) name: string;
  @ApiProperty({ type: AgentConfigDto }) config: AgentConfigDto;
  @ApiProperty({ example: true }) isActive: boolean;
  @ApiProperty({ type: AgentStatsResponse }) stats: AgentStatsResponse;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt: Date;
  @ApiProperty({ type: String, format: 'date-time' }) updatedAt: Date;
}

export class AgentPageResponse {
  @ApiProperty({ type: [AgentResponse] }) data: AgentResponse[];
  @ApiProperty({ type: PageMetaDto }) meta: PageMetaDto;
}
