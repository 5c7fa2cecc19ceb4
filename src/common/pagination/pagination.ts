import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsInt,
  IsOptional,
  Max,
  Min,
  Validate,
  type ValidationArguments,
  ValidatorConstraint,
  type ValidatorConstraintInterface,
} from 'class-validator';

/** Deepest a list may be paged: skipping further makes the database scan and discard. */
export const MAX_LIST_OFFSET = 10_000;

@ValidatorConstraint({ name: 'maxListOffset' })
class MaxListOffset implements ValidatorConstraintInterface {
  validate(page: unknown, args: ValidationArguments): boolean {
    const { limit } = args.object as { limit?: unknown };
    const size = typeof limit === 'number' && Number.isInteger(limit) ? limit : 20;
    return typeof page !== 'number' || (page - 1) * size <= MAX_LIST_OFFSET;
  }

  defaultMessage(): string {
    return `page reaches too deep: (page - 1) x limit may be at most ${MAX_LIST_OFFSET}; narrow the list with its filters instead`;
  }
}

export class PaginationQueryDto {
  @ApiPropertyOptional({ minimum: 1, default: 1, example: 1 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  @Validate(MaxListOffset)
  page: number = 1;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20, example: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit: number = 20;
}

export class PageMetaDto {
  @ApiProperty({ example: 1 }) page: number;
  @ApiProperty({ example: 20 }) limit: number;
  @ApiProperty({ example: 42 }) total: number;
}

export interface Page<T> {
  data: T[];
  meta: PageMetaDto;
}

export function toPage<T>(data: T[], total: number, query: PaginationQueryDto): Page<T> {
  return { data, meta: { page: query.page, limit: query.limit, total } };
}

export function skipFor(query: PaginationQueryDto): number {
  return (query.page - 1) * query.limit;
}
