import { BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';

const OBJECT_ID_PATTERN = /^[0-9a-f]{24}$/i;

/** Route ids must be 24-hex ObjectIds: anything else is a 400, never a database error. */
@Injectable()
export class ParseObjectIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!OBJECT_ID_PATTERN.test(value)) {
      throw new BadRequestException('id must be a 24-character hexadecimal ObjectId');
    }
    return value.toLowerCase();
  }
}
